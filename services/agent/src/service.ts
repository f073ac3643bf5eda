import { join, resolve } from 'node:path';
import type { Bus } from '@warden/events';
import type { Logger } from '@warden/runtime';
import type { Registry as MetricsRegistry } from 'prom-client';
import { auditTo } from './audit.ts';
import type { AgentConfig } from './config.ts';
import { retryBackoff } from './config.ts';
import { crlRefresherFor } from './crl-wiring.ts';
import { EntrySet } from './entry-set.ts';
import type { IdentityEvents } from './identity-events.ts';
import { consumeIdentityEvents } from './identity-events.ts';
import { createAgentMetrics } from './metrics.ts';
import { SdsServer } from './sds-server.ts';
import { Store } from './store.ts';
import { TrustBundle } from './trust-bundle.ts';
import { Workloads } from './workloads.ts';

export type AgentDeps = {
  bus: Bus;
  log: Logger;
  metricsRegistry: MetricsRegistry;
  /** This instance's name: the actor of its audit events. */
  instance: string;
  config: AgentConfig;
};

export type RunningAgent = {
  stop(): Promise<void>;
};

/**
 * The per-host identity agent (ARCHITECTURE §1, §3): registration entries from a file and from events,
 * one workload per entry (keys made here, SVIDs from the CA, cached, rotated, revoked), the trust
 * bundle, CRLs, Envoy SDS on a Unix socket and PEM files for file-watching consumers. Resolves
 * once cached SVIDs are served; the CA is asked only for what the cache lacks, in the background.
 */
export async function startAgent(deps: AgentDeps): Promise<RunningAgent> {
  const { bus, log, config } = deps;
  const backoff = retryBackoff(config);
  const store = await Store.open(resolve(config.WARDEN_AGENT_DIR));
  const entries = await EntrySet.load({
    file: config.WARDEN_AGENT_ENTRIES_FILE,
    maxBytes: config.WARDEN_AGENT_ENTRIES_MAX_BYTES,
    pollMs: config.WARDEN_AGENT_ENTRIES_POLL_MS,
    defaults: {
      trustDomain: config.WARDEN_TRUST_DOMAIN,
      workloadsDir: join(store.dir, 'workloads'),
      keyAlgorithm: config.WARDEN_AGENT_KEY_ALGORITHM,
      ttlSeconds: config.WARDEN_AGENT_SVID_TTL_SECONDS,
    },
    store,
    log,
  });
  const cached = await store.loadBundle().catch(() => null);

  // The parts call each other back; nothing below awaits until all exist (/metrics reads them).
  let sds: SdsServer | undefined;
  const metrics = createAgentMetrics(
    deps.metricsRegistry,
    () => workloads.held(),
    () => crl?.current?.thisUpdate ?? null,
  );
  const audit = auditTo(bus, deps.instance, log);
  const trust = new TrustBundle({
    bus,
    store,
    log,
    metrics,
    trustDomain: config.WARDEN_TRUST_DOMAIN,
    timeoutMs: config.WARDEN_AGENT_CA_TIMEOUT_MS,
    cached,
    changed: (bundle) => {
      workloads.bundleChanged(bundle);
      sds?.notify();
    },
    // The CRL is checked against the bundle: with the first one, refreshing can begin.
    fetched: () => crl?.start(),
  });
  const workloads = new Workloads(
    {
      bus,
      store,
      log,
      metrics,
      rotation: { ratio: config.WARDEN_AGENT_ROTATION_RATIO, jitter: config.WARDEN_AGENT_ROTATION_JITTER },
      backoff,
      caTimeoutMs: config.WARDEN_AGENT_CA_TIMEOUT_MS,
      bundle: () => trust.get(),
      currentBundle: () => trust.current,
      currentCrl: () => crl?.current?.pem ?? null,
      changed: () => sds?.notify(),
      audit,
    },
    () => entries.desired(),
  );
  const crl = crlRefresherFor(config, { trust, workloads, backoff, audit, metrics, log });

  let events: IdentityEvents | undefined;
  const stop = async (): Promise<void> => {
    trust.stop();
    entries.stop();
    await events?.stop();
    await crl?.stop();
    await workloads.stop();
    await sds?.stop();
    await trust.settled();
  };
  try {
    await workloads.reconcile();
    entries.watch(() => workloads.reconcile());
    if (config.WARDEN_AGENT_SDS_SOCKET)
      sds = await SdsServer.start(
        resolve(config.WARDEN_AGENT_SDS_SOCKET),
        { bundle: () => trust.current, certificateFor: (nodeId) => workloads.certificateFor(nodeId) },
        log,
      );
    events = await consumeIdentityEvents({
      bus,
      host: config.WARDEN_AGENT_HOST,
      log,
      entries,
      workloads,
      trust,
      crl,
    });
    if (trust.current) crl?.start();
    trust.fetchUntilHeld(backoff);
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
