import type { NatsConnection } from '@nats-io/nats-core';
import { Backoff, codeOf, messageOf, pause } from '@warden/core';
import { Bus, isStreamNotFound, policyApplied } from '@warden/events';
import type { BusLogger } from '@warden/events';
import { buildPolicyRevision } from '@warden/policy-engine';
import type { Engine, PolicyBundle, PolicyRevision } from '@warden/policy-engine';
import { kvKey } from './layout.ts';
import type { Manifest } from './layout.ts';
import { PolicyStore, PolicyStoreError } from './store.ts';

export type FollowerOptions = {
  nc: NatsConnection;
  /** This decision point's name in `applied` events and in the rollout status. */
  decisionPoint: string;
  /** The engine whose policy set is swapped atomically on each new revision. */
  engine: Engine;
  /** When given, follows the dry-run revision too; it is evaluated beside, never enforced. */
  dryRunEngine?: Engine;
  logger?: BusLogger;
  bus?: Bus;
};

/**
 * Keeps a decision point's engine on the active revision: watches `revision.active`, loads the
 * manifest and its bundles (each checked against its digest), builds the revision, swaps it in
 * whole, and reports `warden.policy.v1.applied`. A revision that cannot be loaded is not applied:
 * the decision point keeps enforcing the last good one (ARCHITECTURE §7) and says why in the log.
 */
export class PolicyFollower {
  private readonly options: FollowerOptions;
  private readonly bus: Bus;
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly watchers: { stop(): void }[] = [];
  private applied = 0;
  private appliedDryRun = 0;
  /** Resolves once the follower follows the policy bucket (at once unless it had to wait). */
  attached: Promise<void> = Promise.resolve();

  constructor(options: FollowerOptions) {
    this.options = options;
    this.bus =
      options.bus ??
      new Bus(options.nc, {
        source: options.decisionPoint,
        ...(options.logger ? { logger: options.logger } : {}),
      });
  }

  get appliedRevision(): number {
    return this.applied;
  }

  get dryRunRevision(): number {
    return this.appliedDryRun;
  }

  /**
   * Applies the current revision and follows it. When the policy service has not provisioned its
   * bucket yet (services start in any order), `start` resolves at once and the follower waits for
   * the bucket in the background, with backoff; meanwhile `appliedRevision` is 0 and a decision
   * point denies (`no_revision`). `attached` resolves once it follows.
   */
  async start(): Promise<void> {
    let store: PolicyStore;
    try {
      store = await PolicyStore.open(this.options.nc);
    } catch (err) {
      if (!isStoreMissing(err)) throw err;
      this.options.logger?.warn({}, 'no policy bucket yet; following it once the policy service creates it');
      this.attached = this.waitForStore();
      return;
    }
    await this.followStore(store);
    this.attached = Promise.resolve();
  }

  private async waitForStore(): Promise<void> {
    const backoff = new Backoff({ initialMs: 250, maxMs: 10_000 });
    while (!this.stopped) {
      await pause(backoff.next(), this.abort.signal);
      if (this.stopped) return;
      try {
        await this.followStore(await PolicyStore.open(this.options.nc));
        this.options.logger?.info({ revision: this.applied }, 'following the policy bucket');
        return;
      } catch (err) {
        if (!isStoreMissing(err))
          this.options.logger?.warn({ err }, 'cannot open the policy bucket yet; retrying');
      }
    }
  }

  private async followStore(store: PolicyStore): Promise<void> {
    await this.track(store, kvKey.active, (revision) => this.follow(store, revision));
    const dryRunEngine = this.options.dryRunEngine;
    if (dryRunEngine)
      await this.track(store, kvKey.dryRun, (revision) => this.followDryRun(store, revision, dryRunEngine));
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    for (const w of this.watchers) w.stop();
  }

  /** Applies the key's current value, then every change of it, in order. */
  private async track(
    store: PolicyStore,
    key: string,
    apply: (revision: number) => Promise<void>,
  ): Promise<void> {
    await apply(await store.number(key));
    const watch = await store.kv.watch({ key });
    this.watchers.push(watch);
    void (async () => {
      for await (const entry of watch) {
        if (this.stopped) break;
        if (entry.operation === 'PUT') await apply(Number(entry.string()));
      }
    })();
  }

  private async follow(store: PolicyStore, revision: number): Promise<void> {
    if (!Number.isInteger(revision) || revision <= this.applied) return;
    try {
      const manifest = await store.getManifest(revision);
      if (!manifest)
        throw new PolicyStoreError('missing_manifest', `manifest of revision ${revision} is missing`);
      const built = await buildRevision(store, manifest);
      if (!this.options.engine.swap(built)) return;
      this.applied = revision;
      await this.bus.publish(policyApplied, { revision, decisionPoint: this.options.decisionPoint });
    } catch (err) {
      this.options.logger?.error(
        { err, code: codeOf(err), reason: messageOf(err), revision, keeping: this.applied },
        'cannot apply policy revision; keeping the last good one',
      );
    }
  }

  private async followDryRun(store: PolicyStore, revision: number, engine: Engine): Promise<void> {
    if (!Number.isInteger(revision) || revision <= this.appliedDryRun) return;
    try {
      const manifest = await store.getManifest(revision);
      if (!manifest)
        throw new PolicyStoreError('missing_manifest', `manifest of dry-run revision ${revision} is missing`);
      if (engine.swap(await buildRevision(store, manifest))) this.appliedDryRun = revision;
    } catch (err) {
      this.options.logger?.error(
        { err, code: codeOf(err), reason: messageOf(err), revision },
        'cannot load the dry-run revision',
      );
    }
  }
}

/** Builds an engine revision from a manifest: its bundles, loaded and checked, in key order. */
export async function buildRevision(store: PolicyStore, manifest: Manifest): Promise<PolicyRevision> {
  const bundles: PolicyBundle[] = [];
  for (const key of Object.keys(manifest.entries).sort()) {
    const entry = manifest.entries[key];
    if (entry) bundles.push(await store.getBundle(entry.digest));
  }
  return buildPolicyRevision(bundles, { revision: manifest.revision });
}

/** The policy service has not created its bucket or object store yet. */
const isStoreMissing = (err: unknown): boolean =>
  isStreamNotFound(err) || /(object store|bucket) not found/i.test(messageOf(err));
