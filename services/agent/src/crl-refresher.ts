import type { BackoffPolicy } from '@warden/core';
import { backoffDelay, messageOf } from '@warden/core';
import type { Logger } from '@warden/runtime';
import type { Crl, CrlTrust } from './crl.ts';
import { checkCrl, fetchCrlText } from './crl.ts';
import { CrlError, CrlProblem } from './errors.ts';
import type { AgentMetrics } from './metrics.ts';

/**
 * The CA lists a revocation in its CRL right after it publishes the event, so the agent may see
 * the event first; past this wait the CA is not going to list it (a certificate it no longer
 * knows, say), which is logged and counted, and the periodic refresh goes on.
 */
const REVOCATION_WAIT_MS = 60_000;
/** The nextUpdate rule never schedules sooner than this: a CRL near expiry is no hot loop. */
const MIN_REFRESH_MS = 1000;

export type CrlRefresherOptions = {
  readonly url: string;
  readonly refreshMs: number;
  readonly timeoutMs: number;
  readonly backoff: BackoffPolicy;
  /** What a CRL is checked against; null while the agent has no bundle. */
  trust(): CrlTrust | null;
  /** A CRL different from the current one was accepted. */
  changed(crl: Crl): void;
  /**
   * Refreshing started failing (the first failure after a success), or a revocation never
   * reached the CRL; the metric counts every failure, this hears of each streak once.
   */
  failed(err: CrlError): void;
  readonly metrics: Pick<AgentMetrics, 'crlFetches' | 'crlFailures'>;
  readonly log: Logger;
};

/**
 * Keeps the CA's CRLs current for crl.pem: fetched at start, again right after every trust bundle
 * event and every revocation event (and with backoff until the CRL lists the revoked serials), and
 * periodically: every `refreshMs`, or at half the time left to nextUpdate if that comes sooner. A
 * failure, an older CRL than the one held among them, keeps the current CRL (fail closed: once it
 * expires, TLS stacks refuse every handshake rather than accept a revoked certificate) and is
 * retried with backoff.
 */
export class CrlRefresher {
  current: Crl | null = null;
  private readonly options: CrlRefresherOptions;
  /** Revoked serials not yet in the CRL, with the time after which they are no longer awaited. */
  private readonly awaited = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private failing = false;
  private started = false;

  constructor(options: CrlRefresherOptions) {
    this.options = options;
  }

  /** The first fetch; later calls do nothing (the schedule is running). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.run();
  }

  /**
   * A revocation event: fetch now (once started), and keep fetching until the CRL lists `serials`
   * or the wait from `publishedAt` is over. Old events a new durable consumer replays are not
   * waited for: the CA leaves expired certificates out of its CRL. While refreshing fails the
   * backoff's retry stands: a burst of revocations while the CA is away must not hammer it.
   */
  revoked(serials: Iterable<string>, publishedAt: Date): void {
    const deadline = publishedAt.getTime() + REVOCATION_WAIT_MS;
    if (deadline > Date.now())
      for (const serial of serials)
        if (!this.current?.serials.has(serial)) this.awaited.set(serial, deadline);
    if (this.failing) return;
    this.attempt = 0;
    if (this.started) this.run();
  }

  /**
   * The first fetch, or another one at once (a trust bundle event: a rotation's new CRLs must
   * reach crl.pem before leaves chain to them). The backoff is left as it is: bundle events are
   * rare, and each needs a fetch now.
   */
  fetchNow(): void {
    this.started = true;
    this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One fetch at a time; a request during one runs again right after it. */
  private run(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.refresh()
      .catch((err: unknown) => {
        // A callback or the logger threw; the next fetch is scheduled all the same (refresh's
        // finally), so the refresher never stops for it.
        try {
          this.options.log.error({ err }, 'CRL refresh failed unexpectedly');
        } catch {
          // The logger is what threw: there is nowhere left to report it.
        }
      })
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.run();
        }
      });
  }

  private async refresh(): Promise<void> {
    let crl: Crl | null = null;
    try {
      crl = await this.fetch();
      if (this.stopped) return;
      if (crl && crl.pem !== this.current?.pem) {
        this.current = crl;
        this.options.log.info(
          { thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, revoked: crl.serials.size },
          'CRL updated',
        );
        this.options.changed(crl);
      }
      this.settleAwaited();
    } finally {
      if (!this.stopped) this.timer = setTimeout(() => this.run(), this.nextDelay(crl));
    }
  }

  /** The CRL fetched and accepted; or null, the failure counted, logged and (once a streak) reported. */
  private async fetch(): Promise<Crl | null> {
    const { options } = this;
    try {
      const crl = await checkCrl(
        await fetchCrlText(options.url, { timeoutMs: options.timeoutMs }),
        options.trust(),
        this.current,
      );
      options.metrics.crlFetches.inc();
      this.failing = false;
      return crl;
    } catch (err) {
      const failure =
        err instanceof CrlError
          ? err
          : new CrlError(CrlProblem.invalid, `the CRL cannot be checked: ${messageOf(err)}`, { cause: err });
      const streak = !this.failing;
      this.failing = true;
      options.metrics.crlFailures.inc({ code: failure.code });
      options.log.warn(
        { code: failure.code, reason: failure.message },
        'CRL refresh failed; keeping the current crl.pem',
      );
      if (streak) options.failed(failure);
      return null;
    }
  }

  /** Drops awaited serials the CRL now lists, and those waited for long enough (reported). */
  private settleAwaited(): void {
    const now = Date.now();
    const missing: string[] = [];
    for (const [serial, deadline] of this.awaited) {
      if (this.current?.serials.has(serial)) this.awaited.delete(serial);
      else if (deadline <= now) {
        this.awaited.delete(serial);
        missing.push(serial);
      }
    }
    if (missing.length === 0) return;
    const failure = new CrlError(
      CrlProblem.missingRevocation,
      `the CA's CRL still does not list ${missing.length} revoked serial(s) after ${REVOCATION_WAIT_MS} ms`,
    );
    this.options.metrics.crlFailures.inc({ code: failure.code });
    this.options.log.error({ err: failure, serials: missing.slice(0, 10) }, failure.message);
    this.options.failed(failure);
  }

  /** Backoff while failing or awaiting a revocation; otherwise the periodic refresh. */
  private nextDelay(crl: Crl | null): number {
    const { refreshMs, backoff } = this.options;
    if (!crl || this.awaited.size > 0) return Math.min(refreshMs, backoffDelay(++this.attempt, backoff));
    this.attempt = 0;
    return Math.min(refreshMs, Math.max(MIN_REFRESH_MS, (crl.nextUpdate.getTime() - Date.now()) / 2));
  }
}
