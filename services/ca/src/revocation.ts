import { enforceRevoke, identityRevoked } from '@warden/events';
import type { Bus, DataOf, Envelope, RunningConsumer } from '@warden/events';
import { isSpiffeId, normaliseSerial, parseSpiffeId } from '@warden/pki';
import type { Logger } from '@warden/runtime';
import type { IssuedIndex } from './issued-index.ts';

export type RevocationOptions = {
  bus: Bus;
  log: Logger;
  index: IssuedIndex;
  /** Told after every revocation: resolves once the stored CRL lists it. */
  crl: { reissue(): Promise<void> };
};

/**
 * Revokes by serial or by SPIFFE ID (every live certificate of it): publishes
 * `identity.revoked`, then marks the index. A request that can never be valid is logged and
 * acknowledged, not redelivered.
 */
export function revocationHandler(options: RevocationOptions) {
  const { bus, log, index, crl } = options;
  return async (event: Envelope<DataOf<typeof enforceRevoke>>): Promise<void> => {
    const data = event.data;
    let serials: string[];
    let spiffeId: string | undefined;
    if ('principal' in data) {
      if (!isSpiffeId(data.principal)) {
        // Retrying cannot make it valid: log and acknowledge instead of redelivering.
        log.warn(
          { principal: data.principal, by: event.source },
          'revocation of an invalid SPIFFE ID ignored',
        );
        return;
      }
      spiffeId = parseSpiffeId(data.principal).uri;
      serials = await index.serialsOf(spiffeId);
    } else {
      const serial = normaliseSerial(data.serial);
      serials = [serial];
      spiffeId = (await index.get(serial))?.spiffeId;
    }
    // The event first: enforcers act on it; the index follows (and is rebuilt from it if need be).
    const revokedAt = new Date().toISOString();
    await bus.publish(identityRevoked, { serials, ...(spiffeId ? { spiffeId } : {}), reason: data.reason });
    await index.markRevoked(serials, data.reason, revokedAt);
    await crl.reissue();
    await bus
      .audit({
        kind: 'identity',
        actor: event.source,
        action: 'ca.revoke',
        target: spiffeId ?? serials.join(','),
        outcome: 'success',
        details: { serials, reason: data.reason },
      })
      .catch((err: unknown) => log.warn({ err }, 'could not audit a revocation'));
    log.info({ serials, spiffeId, reason: data.reason, by: event.source }, 'revoked');
  };
}

/**
 * Consumes `warden.enforce.v1.revoke` (durable `ca-revoke`). WARDEN_ENFORCEMENT belongs to its
 * publishers (enforcer, console): until one has created it the bus waits for it in the
 * background, so boot order does not matter and the CA is ready meanwhile.
 */
export async function consumeRevocations(options: RevocationOptions): Promise<RunningConsumer> {
  const { bus, log } = options;
  const consumer = await bus.consume(enforceRevoke, revocationHandler(options), {
    durable: 'ca-revoke',
    deliver: 'all',
  });
  void consumer.attached.then(() => log.info('consuming revocation requests'));
  return consumer;
}
