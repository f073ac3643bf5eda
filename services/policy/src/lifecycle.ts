import { createHash } from 'node:crypto';
import type { Bus, DataOf, Envelope, InvalidMessage, policyStatus, ReplyOf } from '@warden/events';
import { policyCommitted, policyRejected } from '@warden/events';
import type { Issue, TranslateOptions } from '@warden/policy-engine';
import type { Manifest, PolicyStore, RolloutEntry } from '@warden/policy-store';
import { kvKey, RevisionConflictError, rolloutEntry } from '@warden/policy-store';
import type { Logger } from '@warden/runtime';
import type { Submission } from './compile.ts';
import { compileSubmission } from './compile.ts';
import type { PolicyMetrics } from './metrics.ts';

type Rejection = DataOf<typeof policyRejected>['reasons'];
type StatusReply = ReplyOf<typeof policyStatus>;

/**
 * Turns submissions into revisions. Each accepted submission becomes a new revision holding the
 * whole policy set (the previous active set with the submitted policies replaced or added); a
 * rejected one changes nothing and says why, with positions.
 */
export class PolicyLifecycle {
  private readonly store: PolicyStore;
  private readonly bus: Bus;
  private readonly log: Logger;
  private readonly compile: TranslateOptions;
  private readonly metrics: PolicyMetrics;
  private readonly rollout = new Map<string, RolloutEntry>();

  constructor(options: {
    store: PolicyStore;
    bus: Bus;
    log: Logger;
    compile: TranslateOptions;
    metrics: PolicyMetrics;
  }) {
    this.store = options.store;
    this.bus = options.bus;
    this.log = options.log;
    this.compile = options.compile;
    this.metrics = options.metrics;
  }

  /** Handles one submit event; throws only for infrastructure failures (then it is redelivered). */
  async handle(event: Envelope<Submission>): Promise<void> {
    const submission = event.data;
    const done = await this.store.number(kvKey.submission(event.id));
    if (done > 0) {
      // A redelivery after a crash between commit and ack, or after the committed event reached
      // its subscribers but not the stream (a JetStream leader lost mid-publish): the revision
      // exists already. Its event goes out again under the same id, which the stream stores once.
      const committed = await this.store.getManifest(done);
      if (committed) await this.publishCommitted(committed, await this.changedKeys(committed));
      this.log.info({ submissionId: event.id, revision: done }, 'submission already committed');
      return;
    }
    const latest = await this.store.getManifest(await this.store.number(kvKey.latest));
    if (latest?.submissionId === event.id) {
      // A redelivery after a crash between storing the manifest and recording the submission.
      const changed = await this.changedKeys(latest);
      this.log.info({ submissionId: event.id, revision: latest.revision }, 'finishing an interrupted commit');
      return this.commit(latest, changed, latest.rollbackOf === undefined ? submission.kind : 'rollback');
    }
    if (submission.kind === 'rollback') return this.rollback(event.id, submission.revision);

    const result = await compileSubmission(submission, this.compile);
    if (!result.ok) return this.reject(event.id, submission.kind, result.issues);

    const dryRun = submission.dryRun === true;
    const base = await this.store.getManifest(await this.store.activeRevision());
    const entries: Manifest['entries'] = { ...(base?.entries ?? {}) };
    const changed: string[] = [];
    // Content first (stored by digest, so a retry rewrites nothing), then the revision number:
    // a failure while storing never leaves a gap in the numbers.
    const stored: (Omit<Manifest['entries'][string], 'revision'> & { key: string })[] = [];
    for (const policy of result.policies) {
      const { kind } = policy.bundle;
      const key = kvKey.policy(kind, policy.namespace, policy.name);
      const digest = await this.store.putBundle(policy.bundle);
      const sourceDigest = await this.store.putContent('source', new TextEncoder().encode(policy.source));
      if (entries[key]?.digest !== digest) stored.push({ key, kind, digest, sourceDigest });
    }
    const revision = await this.nextRevision();
    for (const { key, kind, digest, sourceDigest } of stored) {
      entries[key] = { kind, digest, sourceDigest, revision };
      changed.push(key);
    }
    await this.commit(
      { revision, createdAt: event.time, submissionId: event.id, dryRun, entries },
      changed,
      submission.kind,
    );
  }

  private async rollback(submissionId: string, target: number): Promise<void> {
    const old = await this.store.getManifest(target);
    if (!old) {
      return this.reject(submissionId, 'rollback', [
        {
          code: 'unknown_revision',
          message: `revision ${target} does not exist`,
          line: 1,
          column: 1,
          path: 'revision',
        },
      ]);
    }
    const current = await this.store.getManifest(await this.store.activeRevision());
    const revision = await this.nextRevision();
    const changed = Object.keys(old.entries).filter(
      (k) => current?.entries[k]?.digest !== old.entries[k]?.digest,
    );
    const removed = Object.keys(current?.entries ?? {}).filter((k) => !(k in old.entries));
    const entries = Object.fromEntries(
      Object.entries(old.entries).map(([k, e]) => [k, changed.includes(k) ? { ...e, revision } : e]),
    );
    await this.commit(
      {
        revision,
        createdAt: new Date().toISOString(),
        submissionId,
        dryRun: false,
        rollbackOf: target,
        entries,
      },
      [...changed, ...removed],
      'rollback',
    );
  }

  private async nextRevision(): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.store.nextRevision();
      } catch (err) {
        if (!(err instanceof RevisionConflictError) || attempt >= 5) throw err;
      }
    }
  }

  private async commit(manifest: Manifest, changed: string[], kind: string): Promise<void> {
    const digest = await this.store.putManifest(manifest);
    await this.store.activate(manifest, changed);
    await this.store.kv.put(kvKey.submission(manifest.submissionId), String(manifest.revision));
    await this.publishCommitted(manifest, changed, digest);
    this.metrics.outcomes.inc({ kind, outcome: 'committed' });
    await this.audit('policy.commit', manifest.submissionId, 'success', {
      revision: manifest.revision,
      keys: changed,
      dryRun: manifest.dryRun,
    });
    this.log.info(
      { revision: manifest.revision, keys: changed, dryRun: manifest.dryRun },
      'policy revision committed',
    );
  }

  /**
   * The `committed` event, under an id derived from the submission: published again after a
   * redelivery, it is stored once (the stream's duplicate window is two minutes; redeliveries
   * come within seconds).
   */
  private async publishCommitted(manifest: Manifest, changed: string[], digest?: string): Promise<void> {
    await this.bus.publish(
      policyCommitted,
      {
        submissionId: manifest.submissionId,
        revision: manifest.revision,
        keys: changed,
        bundleDigest: digest ?? this.store.manifestDigest(manifest),
        dryRun: manifest.dryRun,
      },
      { id: `committed-${createHash('sha256').update(manifest.submissionId).digest('hex').slice(0, 40)}` },
    );
  }

  /**
   * The keys a stored revision changed: those it gave its own number, and for a rollback those
   * the revision before it had and it has not.
   */
  private async changedKeys(m: Manifest): Promise<string[]> {
    const changed = Object.keys(m.entries).filter((k) => m.entries[k]?.revision === m.revision);
    if (m.rollbackOf === undefined) return changed;
    const before = (await this.store.getManifest(m.revision - 1))?.entries ?? {};
    return [...changed, ...Object.keys(before).filter((k) => !(k in m.entries))];
  }

  /**
   * Answers a submission the bus could not read (not JSON, failing the schema, too large): its
   * sender gets a `rejected` event under the id it gave, or `seq-<n>` when it gave none usable.
   */
  async rejectInvalid(invalid: InvalidMessage): Promise<void> {
    const submissionId = invalid.id ?? `seq-${invalid.seq}`;
    const message = `${invalid.reason}: ${invalid.issues.join('; ')}`;
    await this.reject(submissionId, 'invalid', [
      { code: 'invalid_submission', message, line: 1, column: 1, path: '' },
    ]);
  }

  private async reject(submissionId: string, kind: string, issues: readonly Issue[]): Promise<void> {
    const reasons: Rejection = issues.slice(0, 100).map((i) => ({
      message: `${i.code}: ${i.message}${i.path ? ` (at ${i.path})` : ''}`.slice(0, 4096),
      line: Math.max(1, i.line),
      column: Math.max(1, i.column),
      ...(i.file ? { file: i.file } : {}),
    }));
    await this.bus.publish(policyRejected, { submissionId, reasons });
    this.metrics.outcomes.inc({ kind, outcome: 'rejected' });
    await this.audit('policy.reject', submissionId, 'failure', { reasons: reasons.length });
    this.log.warn({ submissionId, reasons }, 'policy submission rejected');
  }

  /** A policy change in the policy service's audit chain; a failure to write it is logged. */
  private async audit(
    action: string,
    submissionId: string,
    outcome: 'success' | 'failure',
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.bus
      .audit({ kind: 'policy', actor: 'policy', action, target: submissionId, outcome, details })
      .catch((err: unknown) => this.log.warn({ err, action }, 'could not audit a policy change'));
  }

  /** The answer to `warden.policy.v1.status`. */
  async status(request: DataOf<typeof policyStatus>): Promise<StatusReply> {
    const revision = await this.store.activeRevision();
    const dryRun = await this.store.dryRunRevision();
    const rollout = [...this.rollout.values()];
    rollout.sort((a, b) => a.decisionPoint.localeCompare(b.decisionPoint));
    const reply: StatusReply = { revision, rollout, ...(dryRun > 0 ? { dryRunRevision: dryRun } : {}) };
    if (request.history) {
      reply.history = (await this.store.history()).map((m) => ({
        revision: m.revision,
        at: m.createdAt,
        submissionId: m.submissionId,
        dryRun: m.dryRun,
        keys: Object.keys(m.entries).sort(),
        ...(m.rollbackOf ? { rollbackOf: m.rollbackOf } : {}),
      }));
    }
    if (request.policies) {
      const m = await this.store.getManifest(revision);
      reply.policies = Object.entries(m?.entries ?? {})
        .map(([key, e]) => ({ key, kind: e.kind, digest: e.digest, revision: e.revision }))
        .sort((a, b) => a.key.localeCompare(b.key));
    }
    return reply;
  }

  /**
   * Follows every decision point's `rollout.*` key with one long-lived KV watch, so a status
   * request reads memory instead of opening a consumer to list keys (a busy status poller would
   * otherwise exhaust JetStream's consumers). Every instance sees every decision point this way.
   */
  async watchRollout(): Promise<{ stop(): void }> {
    const watch = await this.store.kv.watch({ key: kvKey.rollouts });
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation !== 'PUT') {
          this.rollout.delete(entry.key);
          continue;
        }
        try {
          this.rollout.set(entry.key, rolloutEntry.parse(entry.json()));
        } catch (err) {
          this.log.warn({ err, key: entry.key }, 'ignored a malformed rollout entry');
        }
      }
    })();
    return watch;
  }

  /** Records what a decision point applied, for the rollout status. */
  async recordApplied(revision: number, decisionPoint: string, at: string): Promise<void> {
    const entry: RolloutEntry = { decisionPoint, revision, at };
    await this.store.kv.put(kvKey.rollout(decisionPoint), JSON.stringify(entry));
  }
}
