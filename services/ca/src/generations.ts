import { Backoff } from '@warden/core';
import type { Bus } from '@warden/events';
import { identityBundle } from '@warden/events';
import type { Logger } from '@warden/runtime';
import { loadOrCreateTrustDomain, loadTrustDomain, manifestStamp, TrustDomain } from '@warden/trust-domain';
import type { FolderSettings, StateOptions } from '@warden/trust-domain';
import type { CaMetrics } from './metrics.ts';

/**
 * How often the CA looks for a rotation written by `warden ca rotate` and for a scheduled
 * activation or a root leaving the bundle; a changed bundle is published at once.
 */
const CHECK_MS = 1000;
/** A manifest that does not load is tried again after this, doubling (jittered) up to the cap. */
const RELOAD_RETRY = { initialMs: 5000, maxMs: 60_000 };

export type GenerationsOptions = {
  bus: Bus;
  log: Logger;
  metrics: CaMetrics;
  trustDomain: TrustDomain;
  state: StateOptions;
  /** The manifest's stamp read before the trust domain was loaded. */
  stamp: string;
  crl: { reissue(): Promise<void> };
  /** Only the holder of the CA lease publishes the bundle; every replica follows the manifest. */
  lease: { readonly held: boolean };
};

/**
 * Follows the trust domain's generations while the CA runs: reloads the manifest when
 * `warden ca rotate` has written a new one, notices an activation or a root leaving the bundle
 * as time passes, and publishes the bundle whenever it changed (agents and enforcers follow
 * `warden.identity.v1.bundle`). A manifest that does not load is logged, counted and tried again
 * with backoff (a key file not readable yet, a rotation half copied), not only when the file
 * changes again, and the generations already loaded keep serving.
 */
export class GenerationWatcher {
  private readonly options: GenerationsOptions;
  private stamp: string;
  private published = '';
  private activeId: number;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryAt = 0;
  private readonly reloadBackoff = new Backoff(RELOAD_RETRY);

  constructor(options: GenerationsOptions) {
    this.options = options;
    this.stamp = options.stamp;
    this.activeId = options.trustDomain.active().id;
  }

  /** Publishes the bundle now, then checks every second. */
  async start(): Promise<void> {
    await this.publishBundle();
    this.timer = setInterval(() => void this.check(), CHECK_MS);
  }

  /** Stops checking; resolves once a check under way is done. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** A tick while the previous check still runs (a slow reload) is skipped, not queued. */
  check(): Promise<void> {
    this.running ??= this.step()
      .catch((err: unknown) => this.options.log.warn({ err }, 'generation check failed'))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async step(): Promise<void> {
    const { trustDomain, log, crl } = this.options;
    const now = manifestStamp(this.options.state.dir);
    if (now !== this.stamp && Date.now() >= this.retryAt) await this.reload(now);
    const active = trustDomain.active().id;
    if (active !== this.activeId) {
      log.info({ from: this.activeId, to: active }, 'issuing moved to a new intermediate');
      this.activeId = active;
      await crl.reissue();
    }
    await this.publishBundle();
  }

  private async reload(stamp: string): Promise<void> {
    const { trustDomain, log, metrics, crl } = this.options;
    try {
      trustDomain.replace(await loadTrustDomain(this.options.state));
      // A new intermediate's CRL is served from now on, bundle change or not.
      await crl.reissue();
      this.stamp = stamp;
      this.retryAt = 0;
      this.reloadBackoff.reset();
      metrics.reloads.inc({ outcome: 'loaded' });
      log.info(
        {
          intermediates: trustDomain.material.intermediates.map((i) => ({
            id: i.id,
            activateAt: i.activateAt,
          })),
        },
        'manifest reloaded',
      );
    } catch (err) {
      const retryInMs = this.reloadBackoff.next();
      this.retryAt = Date.now() + retryInMs;
      metrics.reloads.inc({ outcome: 'failed' });
      log.error({ err, retryInMs }, 'the new CA manifest does not load; the loaded generations keep serving');
    }
  }

  private async publishBundle(): Promise<void> {
    const { trustDomain, log, bus, crl, lease } = this.options;
    if (!lease.held) {
      // A replica that takes the lease later publishes what it holds then.
      this.published = '';
      return;
    }
    const bundle = trustDomain.bundle();
    const text = JSON.stringify(bundle);
    if (text === this.published) return;
    if (bundle.rootsPem.length === 0) {
      // Every intermediate has expired: nothing is trustworthy to publish, and nothing issued
      // now verifies. Said once per state, not every second.
      if (this.published !== 'empty')
        log.error('no live intermediate: the trust domain has expired; run `warden ca rotate --root`');
      this.published = 'empty';
      return;
    }
    // The CRLs first: an agent refetches them as soon as the event arrives.
    await crl.reissue();
    await bus.publish(identityBundle, bundle);
    this.published = text;
    log.info(
      { sequence: bundle.sequence, roots: trustDomain.bundleRoots().map((r) => r.id) },
      'bundle published',
    );
  }
}

/**
 * The trust domain as the running CA holds it: loaded from its folder, or created there on a
 * first start. The manifest's stamp is read before loading, so a rotation written meanwhile is
 * seen as a change and loaded by the watcher.
 */
export async function openTrustDomain(
  folder: FolderSettings,
  log: Logger,
): Promise<{ trustDomain: TrustDomain; stamp: string }> {
  const stamp = manifestStamp(folder.dir);
  const material = await loadOrCreateTrustDomain(folder);
  const trustDomain = new TrustDomain(material, folder.maxLeafTtlSeconds);
  log.info(
    {
      trustDomain: material.trustDomain,
      algorithm: material.algorithm,
      created: material.created,
      kek: folder.kms.keyId,
      intermediate: trustDomain.active().id,
      roots: trustDomain.bundleRoots().map((r) => r.id),
    },
    material.created ? 'trust domain created' : 'trust domain loaded',
  );
  return { trustDomain, stamp };
}
