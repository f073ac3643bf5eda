import type { BackoffPolicy } from '@warden/core';
import { Backoff, codeOf, messageOf, pause } from '@warden/core';
import type { Bus } from '@warden/events';
import { caBundle, isNoResponders } from '@warden/events';
import { parseCertificates } from '@warden/pki';
import type { Logger } from '@warden/runtime';
import { BundleError } from './errors.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Store } from './store.ts';
import type { Bundle } from './svid.ts';

export type TrustBundleOptions = {
  readonly bus: Bus;
  readonly store: Store;
  readonly log: Logger;
  readonly metrics: Pick<AgentMetrics, 'caFailures'>;
  readonly trustDomain: string;
  /** Per request for the bundle (`warden.ca.v1.bundle`). */
  readonly timeoutMs: number;
  /** The bundle cached on disk, if any; one of another trust domain is ignored. */
  readonly cached: Bundle | null;
  /** A newer bundle was taken (and cached). */
  changed(bundle: Bundle): void;
  /** The CA answered with its bundle. */
  fetched(): void;
};

/**
 * The trust bundle of this agent: the one cached on disk, one asked of the CA while the agent has
 * none, and those of bundle events. A bundle of another trust domain or with unreadable roots is
 * refused; one older than the bundle held is ignored.
 */
export class TrustBundle {
  current: Bundle | null;
  private readonly options: TrustBundleOptions;
  private fetching: Promise<Bundle> | undefined;
  private retrying: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(options: TrustBundleOptions) {
    this.options = options;
    const { cached } = options;
    this.current = cached && cached.trustDomain === options.trustDomain ? cached : null;
  }

  /** Takes a bundle from the CA or an event: same trust domain, readable roots, never older. */
  async accept(next: Bundle): Promise<void> {
    const { trustDomain, log } = this.options;
    if (next.trustDomain !== trustDomain)
      throw new BundleError(`bundle for ${next.trustDomain}, not ${trustDomain}`);
    try {
      parseCertificates(next.rootsPem, 'trust bundle', { maxBytes: 1024 * 1024, maxBlocks: 16 });
    } catch (err) {
      throw new BundleError(`unreadable roots: ${messageOf(err)}`);
    }
    const held = this.current;
    if (held && next.sequence < held.sequence) return;
    if (held && next.sequence === held.sequence && next.rootsPem.join('\n') === held.rootsPem.join('\n'))
      return;
    this.current = { trustDomain: next.trustDomain, sequence: next.sequence, rootsPem: [...next.rootsPem] };
    log.info({ sequence: next.sequence, roots: next.rootsPem.length }, 'trust bundle updated');
    await this.options.store
      .saveBundle(this.current)
      .catch((err: unknown) => log.error({ err }, 'could not cache the bundle'));
    this.options.changed(this.current);
  }

  /** The bundle held, or else the CA's; rejects while the CA cannot give it. */
  get(): Promise<Bundle> {
    return this.current ? Promise.resolve(this.current) : this.fetch();
  }

  /** Asks the CA for its bundle and takes it; one request at a time, a failure counted. */
  fetch(): Promise<Bundle> {
    this.fetching ??= this.options.bus
      .request(caBundle, {}, { timeoutMs: this.options.timeoutMs })
      .then(async (reply) => {
        await this.accept(reply);
        if (!this.current) throw new BundleError('no bundle');
        this.options.fetched();
        return this.current;
      })
      .catch((err: unknown) => {
        this.options.metrics.caFailures.inc({ code: codeOf(err) });
        throw err;
      })
      .finally(() => {
        this.fetching = undefined;
      });
    return this.fetching;
  }

  /**
   * Without a bundle, fetches one in the background, retrying with backoff until it has one (a CA
   * that is down must not keep the agent from serving what it holds). With one, asks the CA
   * nothing: the bundle consumer resumes where it stopped and delivers any change made meanwhile.
   */
  fetchUntilHeld(policy: BackoffPolicy): void {
    const backoff = new Backoff(policy);
    this.retrying = (async () => {
      while (!this.stopped && !this.current) {
        try {
          await this.fetch();
          return;
        } catch (err) {
          if (this.stopped) return;
          const delay = backoff.next();
          // A CA that is still starting is routine; anything else is worth a warning. Neither
          // needs a stack trace: the code and reason say what happened.
          const detail = {
            code: codeOf(err),
            reason: messageOf(err),
            attempt: backoff.attempts,
            retryInMs: delay,
          };
          if (isNoResponders(err)) this.options.log.info(detail, 'the CA does not answer yet; retrying');
          else this.options.log.warn(detail, 'could not fetch the trust bundle; retrying');
          await pause(delay, this.abort.signal);
        }
      }
    })();
  }

  /** Ends the retries; `settled` resolves once no request for the bundle is left in flight. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  async settled(): Promise<void> {
    await this.fetching?.catch(() => undefined);
    await this.retrying;
  }
}
