import type { Bus, DataOf, Envelope, RunningConsumer } from '@warden/events';
import { identityBundle, identityEntry, identityRevoked } from '@warden/events';
import { normaliseSerial } from '@warden/pki';
import type { Logger } from '@warden/runtime';
import type { CrlRefresher } from './crl-refresher.ts';
import type { EntrySet } from './entry-set.ts';
import type { TrustBundle } from './trust-bundle.ts';
import type { Workloads } from './workloads.ts';

export type IdentityEventsDeps = {
  readonly bus: Bus;
  /** WARDEN_AGENT_HOST: entry events for other hosts are ignored; it names the durable consumers. */
  readonly host: string;
  readonly log: Logger;
  readonly entries: EntrySet;
  readonly workloads: Workloads;
  readonly trust: TrustBundle;
  readonly crl: CrlRefresher | undefined;
};

export type IdentityEvents = {
  stop(): Promise<void>;
};

/**
 * Consumes `warden.identity.v1.revoked`, `.entry` and `.bundle`. One durable consumer per host and
 * event type: every agent sees every revocation and bundle (a shared durable would hand each event
 * to one agent only), and a restarted agent resumes where it stopped, so a revocation published
 * while it was down still reaches it. Until the CA has created the identity stream the bus waits
 * for it in the background: the boot order does not matter.
 */
export async function consumeIdentityEvents(deps: IdentityEventsDeps): Promise<IdentityEvents> {
  const { bus, host, log, entries, workloads, trust, crl } = deps;

  const onRevoked = async (event: Envelope<DataOf<typeof identityRevoked>>): Promise<void> => {
    const serials = new Set(event.data.serials.map(normaliseSerial));
    const time = new Date(event.time);
    // Peers reading crl.pem refuse the certificate once the CA's CRL lists it: fetch at once.
    crl?.revoked(serials, time);
    await workloads.revoke(serials, event.data.spiffeId, time);
  };

  const onEntry = async (event: Envelope<DataOf<typeof identityEntry>>): Promise<void> => {
    if (event.data.host !== host) return;
    if (await entries.apply(event)) await workloads.reconcile();
  };

  const onBundle = async (event: Envelope<DataOf<typeof identityBundle>>): Promise<void> => {
    try {
      await trust.accept(event.data);
    } catch (err) {
      log.warn({ err, eventId: event.id }, 'ignored a trust bundle event');
      return;
    }
    // The CA publishes the bundle when its generations change, and a new root's or intermediate's
    // CRL must be in crl.pem before leaves chain to it (CRL-checking peers refuse them otherwise):
    // every event fetches at once, even one whose roots the agent already has (an intermediate
    // rotation keeps the roots). The first bundle starts the refreshing.
    crl?.fetchNow();
  };

  const durable = (what: string): string => `agent-${host}-${what}`;
  const consumers: RunningConsumer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(consumers.map((c) => c.stop().catch(() => undefined)));
  };
  try {
    consumers.push(
      await bus.consume(identityRevoked, onRevoked, { durable: durable('revoked'), deliver: 'all' }),
    );
    consumers.push(await bus.consume(identityEntry, onEntry, { durable: durable('entry'), deliver: 'all' }));
    consumers.push(
      await bus.consume(identityBundle, onBundle, { durable: durable('bundle'), deliver: 'new' }),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  void Promise.all(consumers.map((c) => c.attached)).then(() => log.info('consuming identity events'));
  return { stop };
}
