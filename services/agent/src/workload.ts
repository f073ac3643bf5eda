import type { BackoffPolicy } from '@warden/core';
import { backoffDelay, messageOf, codeOf } from '@warden/core';
import type { Bus } from '@warden/events';
import type { Logger } from '@warden/runtime';
import type { Audit } from './audit.ts';
import type { Entry } from './entries.ts';
import { NoEvidenceError } from './errors.ts';
import { obtainSvid } from './issuer.ts';
import type { AgentMetrics } from './metrics.ts';
import { removeOutputs, writeOutputs } from './outputs.ts';
import type { RotationPolicy } from './schedule.ts';
import { MAX_TIMER_MS, rotationTime } from './schedule.ts';
import type { Store } from './store.ts';
import type { Bundle, Svid } from './svid.ts';

export type WorkloadDeps = {
  readonly bus: Bus;
  readonly store: Store;
  readonly log: Logger;
  readonly metrics: AgentMetrics;
  readonly rotation: RotationPolicy;
  readonly backoff: BackoffPolicy;
  readonly caTimeoutMs: number;
  /** The trust bundle, fetched from the CA if the agent has none yet; throws when unavailable. */
  bundle(): Promise<Bundle>;
  currentBundle(): Bundle | null;
  /** The CA's CRLs as crl.pem holds them, once the agent has fetched them (WARDEN_AGENT_CRL_URL). */
  currentCrl(): string | null;
  /** Something served changed (an SVID came or went): SDS pushes to open streams. */
  changed(): void;
  readonly audit: Audit;
};

/** CA refusals that retrying with the same join token can never turn into a certificate. */
const TOKEN_REFUSED = new Set(['token_invalid', 'token_expired', 'token_used']);

/**
 * One registration entry's identity on this host: its SVID (from the disk cache or the CA),
 * rotation at half-life with jitter, retries with capped backoff while the CA is away (the
 * current SVID keeps being served until it expires), and dropping everything on revocation,
 * expiry or removal of the entry.
 *
 * Disk work (cache and PEM files) runs through one queue per workload, and every issuance and
 * drop bumps or checks a generation number, so a certificate arriving just after a revocation
 * can never write its files back after the revocation deleted them.
 */
export class Workload {
  entry: Entry;
  svid: Svid | null = null;
  private readonly deps: WorkloadDeps;
  private spentToken: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private generation = 0;
  private running = false;
  private inflight: Promise<void> = Promise.resolve();
  private stopped = false;
  private io: Promise<void> = Promise.resolve();

  constructor(entry: Entry, deps: WorkloadDeps) {
    this.entry = entry;
    this.deps = deps;
  }

  private get log(): Logger {
    return this.deps.log.child({ spiffeId: this.entry.spiffeId, entry: this.entry.name });
  }

  /** Serves a still-valid cached SVID at once (no CA call), then schedules what comes next. */
  async start(): Promise<void> {
    const cached = await this.deps.store
      .loadSvid(this.entry.spiffeId, this.deps.currentBundle())
      .catch((err: unknown) => {
        this.log.warn({ err }, 'cached SVID unreadable; asking the CA');
        return null;
      });
    if (cached) {
      this.log.info({ serial: cached.serial, notAfter: cached.notAfter }, 'serving the cached SVID');
      this.install(cached, { save: false });
    }
    this.schedule();
  }

  /** An entry changed (new token, new folder): the next step uses it. */
  update(entry: Entry): void {
    const old = this.entry;
    this.entry = entry;
    if (old.dir !== entry.dir) {
      const svid = this.svid;
      const generation = this.generation;
      this.enqueue(async () => {
        await removeOutputs(old.dir);
        if (generation === this.generation)
          await writeOutputs(entry.dir, {
            svid,
            bundle: this.deps.currentBundle(),
            crl: this.deps.currentCrl(),
          });
      });
    }
    if (entry.joinToken !== old.joinToken && !this.svid && !this.running) this.schedule(0);
  }

  /** The trust bundle changed: rewrite root-cert.pem (SDS reads the bundle itself). */
  bundleChanged(bundle: Bundle): void {
    const generation = this.generation;
    this.enqueue(async () => {
      if (generation === this.generation && this.svid) await writeOutputs(this.entry.dir, { bundle });
    });
  }

  /** New CRLs from the CA: rewrite crl.pem where this workload's files are. */
  crlChanged(crl: string): void {
    const generation = this.generation;
    this.enqueue(async () => {
      if (generation === this.generation && this.svid) await writeOutputs(this.entry.dir, { crl });
    });
  }

  /**
   * Revocation: drops the SVID if its serial is listed, or if the whole SPIFFE ID was revoked by
   * an event published after this SVID was obtained (a newer certificate, issued on fresh
   * evidence after the revocation, is not what was revoked).
   */
  revoke(serials: ReadonlySet<string>, spiffeId: string | undefined, eventTime: Date): Promise<void> {
    const svid = this.svid;
    if (!svid) return this.io;
    const listed = serials.has(svid.serial);
    const byId = spiffeId === this.entry.spiffeId && eventTime >= svid.obtainedAt;
    if (!listed && !byId) return this.io;
    this.deps.metrics.revocations.inc();
    this.log.warn({ serial: svid.serial }, 'SVID revoked; dropping its key and certificate');
    this.auditDrop(svid, 'revoked');
    return this.drop();
  }

  /** The entry is gone from this host: stop and delete its material. */
  async remove(): Promise<void> {
    this.stopped = true;
    await this.drop();
  }

  /**
   * Stops timers (the agent is shutting down); files stay for the next start. A request already
   * at the CA is waited for and its SVID kept: a join token it spent cannot be spent again.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.expiryTimer);
    await this.inflight;
    await this.io;
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    this.io = this.io
      .then(op)
      .catch((err: unknown) => this.log.error({ err }, 'writing identity files failed'));
    return this.io;
  }

  /** Forgets the SVID at once (SDS stops serving it now), then deletes the cache and the files. */
  private drop(): Promise<void> {
    this.generation++;
    clearTimeout(this.timer);
    clearTimeout(this.expiryTimer);
    const had = this.svid !== null;
    this.svid = null;
    if (had) {
      this.deps.metrics.certificates.dec();
      this.deps.changed();
    }
    const { spiffeId, dir } = this.entry;
    return this.enqueue(async () => {
      await this.deps.store.deleteSvid(spiffeId);
      await removeOutputs(dir);
    });
  }

  private auditDrop(svid: Svid, reason: 'revoked' | 'renewal_refused'): void {
    this.deps.audit({
      action: 'agent.svid.drop',
      target: this.entry.spiffeId,
      outcome: 'success',
      details: { reason, serial: svid.serial, entry: this.entry.name },
    });
  }

  private install(svid: Svid, options: { save: boolean }): void {
    if (!this.svid) this.deps.metrics.certificates.inc();
    this.svid = svid;
    this.armExpiry();
    this.deps.changed();
    const generation = this.generation;
    const dir = this.entry.dir;
    this.enqueue(async () => {
      if (generation !== this.generation) return;
      if (options.save) await this.deps.store.saveSvid(svid);
      await writeOutputs(dir, { svid, bundle: this.deps.currentBundle(), crl: this.deps.currentCrl() });
    });
  }

  /** An SVID past notAfter is dropped, never served: fail closed. */
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const svid = this.svid;
    if (!svid) return;
    const wait = svid.notAfter.getTime() - Date.now();
    this.expiryTimer = setTimeout(
      () => {
        if (this.svid !== svid) return;
        if (svid.notAfter.getTime() > Date.now()) return this.armExpiry();
        this.log.error(
          { serial: svid.serial, notAfter: svid.notAfter },
          'SVID expired before it could be renewed',
        );
        void this.drop().then(() => this.schedule());
      },
      Math.min(MAX_TIMER_MS, Math.max(0, wait)),
    );
    this.expiryTimer.unref();
  }

  private hasEvidence(): boolean {
    return (
      this.svid !== null || (this.entry.joinToken !== undefined && this.entry.joinToken !== this.spentToken)
    );
  }

  private schedule(delayMs?: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    let delay: number;
    if (delayMs !== undefined) delay = delayMs;
    else if (this.svid) delay = rotationTime(this.svid, this.deps.rotation).getTime() - Date.now();
    else if (this.hasEvidence()) delay = 0;
    else {
      this.log.warn('no SVID and no unused join token; waiting for a new entry');
      return;
    }
    this.armTimer(Date.now() + Math.max(0, delay));
  }

  /** Fires at `at`; a wait longer than one timer allows is done in steps. */
  private armTimer(at: number): void {
    clearTimeout(this.timer);
    const wait = Math.max(0, at - Date.now());
    this.timer =
      wait > MAX_TIMER_MS
        ? setTimeout(() => this.armTimer(at), MAX_TIMER_MS)
        : setTimeout(() => {
            this.inflight = this.rotate();
          }, wait);
  }

  private async rotate(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    const generation = this.generation;
    const entry = this.entry;
    try {
      const bundle = await this.deps.bundle();
      const issued = await obtainSvid({
        bus: this.deps.bus,
        entry,
        current: this.svid,
        spentToken: this.spentToken,
        bundle,
        timeoutMs: this.deps.caTimeoutMs,
      });
      if (issued.kind === 'bootstrap') this.spentToken = entry.joinToken;
      if (generation !== this.generation) return;
      this.install(issued.svid, { save: true });
      this.deps.metrics.rotations.inc({ kind: issued.kind });
      this.attempt = 0;
      this.log.info(
        { serial: issued.svid.serial, notAfter: issued.svid.notAfter, kind: issued.kind },
        'obtained a new SVID',
      );
      this.deps.audit({
        action: 'agent.svid.obtain',
        target: entry.spiffeId,
        outcome: 'success',
        details: {
          kind: issued.kind,
          serial: issued.svid.serial,
          notAfter: issued.svid.notAfter.toISOString(),
          entry: entry.name,
        },
      });
      this.schedule();
    } catch (err) {
      if (generation === this.generation && !this.stopped) this.failed(err, entry);
    } finally {
      this.running = false;
    }
  }

  private failed(err: unknown, entry: Entry): void {
    const code = codeOf(err);
    if (err instanceof NoEvidenceError) {
      this.log.warn({ code }, err.message);
      return;
    }
    this.deps.metrics.caFailures.inc({ code });
    if (TOKEN_REFUSED.has(code)) {
      this.spentToken = entry.joinToken;
      if (!this.svid) {
        this.log.error({ err, code }, 'the CA refused the join token; waiting for a new entry');
        return;
      }
    }
    if (code === 'svid_revoked') {
      // The CA no longer vouches for the current SVID (revoked, or unknown to its index): even if
      // the revocation event never reached this agent, stop serving it now.
      this.log.error({ err, code }, 'the CA refused to renew: the current SVID is revoked; dropping it');
      if (this.svid) this.auditDrop(this.svid, 'renewal_refused');
      void this.drop().then(() => this.schedule());
      return;
    }
    this.attempt++;
    const delay = backoffDelay(this.attempt, this.deps.backoff);
    // The code and reason say what happened (often a CA still starting); a stack trace adds nothing.
    this.log.warn(
      { code, reason: messageOf(err), attempt: this.attempt, retryInMs: delay },
      'could not obtain an SVID; retrying',
    );
    this.schedule(delay);
  }
}
