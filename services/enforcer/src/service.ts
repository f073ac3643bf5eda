import { readFileSync } from 'node:fs';
import { alert, enforcerStatus } from '@warden/events';
import type { Bus } from '@warden/events';
import { inspectCertificate, istioIdentityOf } from '@warden/pki';
import { Engine } from '@warden/policy-engine';
import { FeedSet, feedSpecs } from '@warden/telemetry';
import { DryRunDecider, PolicyFollower } from '@warden/policy-store';
import type { Logger, Started } from '@warden/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Registry } from 'prom-client';
import { CheckHandler } from './check.ts';
import type { Checker } from './check.ts';
import type { EnforcerConfig } from './config.ts';
import { createEnforcerMetrics } from './metrics.ts';
import { Revocations } from './revocations.ts';
import { consumeContainment } from './containment-events.ts';
import { ContainmentStore } from './containment-store.ts';
import { runPlaybooks } from './playbook-runner.ts';
import { parsePlaybooks } from './playbooks.ts';
import { spiffeUri } from './identity.ts';
import { DecisionRecords } from './records.ts';
import { Terminators } from './terminators.ts';
import { followTerminators } from './terminators-follow.ts';
import { parseTerminators } from './terminators-file.ts';
import { MeshRegistry } from './mesh-registry.ts';
import { startAdsServer, startExtAuthzServer } from './server.ts';
import { AdsHub } from './xds.ts';
import type { NackEvent } from './xds.ts';
import { publishXds } from './xds-publisher.ts';

/** Where Envoy sidecars reach ext_authz: the advertised `host:port`, else the listener itself. */
function extAuthzAddress(
  advertised: string | undefined,
  host: string,
  port: number,
): { address: string; port: number } {
  if (!advertised) return { address: host, port };
  const at = advertised.lastIndexOf(':');
  return { address: advertised.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(advertised.slice(at + 1)) };
}

export type EnforcerParts = Started & {
  readonly extAuthzPort: number;
  readonly xdsPort: number;
  readonly follower: PolicyFollower;
};

/**
 * The decision point: follows the active policy revision (and the dry run beside it), answers
 * Envoy's ext_authz checks with it, and publishes decision records.
 */
export async function startEnforcer(options: {
  nc: NatsConnection;
  bus: Bus;
  log: Logger;
  registry: Registry;
  instance: string;
  config: EnforcerConfig;
}): Promise<EnforcerParts> {
  const { nc, bus, log, registry, instance, config } = options;
  const metrics = createEnforcerMetrics(registry);
  const engine = new Engine();
  const dryRunEngine = new Engine();
  const decider = new DryRunDecider({ active: engine, dryRun: dryRunEngine, bus, decisionPoint: instance });
  const follower = new PolicyFollower({
    nc,
    bus,
    decisionPoint: instance,
    engine,
    dryRunEngine,
    logger: log,
  });
  // What has started so far, stopped in reverse if a later part cannot start.
  const started: (() => unknown)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of started.splice(0).reverse()) await stop();
  };
  try {
    await follower.start();
    started.push(() => follower.stop());
    const containment = await ContainmentStore.open(nc, log);
    started.push(() => containment.stop());
    const containmentConsumers = await consumeContainment({ bus, store: containment, log });
    started.push(() => Promise.all(containmentConsumers.map((c) => c.stop())));
    const sweeper = setInterval(() => {
      containment.sweep(new Date()).catch((err: unknown) => log.warn({ err }, 'containment sweep failed'));
    }, config.WARDEN_ENFORCER_CONTAINMENT_SWEEP_MS);
    started.push(() => clearInterval(sweeper));
    if (config.WARDEN_ENFORCER_PLAYBOOKS_FILE) {
      const file = config.WARDEN_ENFORCER_PLAYBOOKS_FILE;
      const playbooks = parsePlaybooks(readFileSync(file, 'utf8'), file);
      const runner = await runPlaybooks({ bus, log, playbooks });
      started.push(() => runner.stop());
      log.info({ file, playbooks: playbooks.length }, 'playbooks loaded');
    }
    const feeds = new FeedSet({
      specs: feedSpecs(config.WARDEN_ENFORCER_FEEDS),
      maxBytes: config.WARDEN_ENFORCER_FEED_MAX_BYTES,
      metrics: {
        loaded: (feed, outcome) => metrics.feedLoads.inc({ feed, outcome }),
        entries: (feed, entries, malformed) => {
          metrics.feedEntries.set({ feed }, entries);
          metrics.feedIssues.set({ feed }, malformed);
        },
      },
      log,
    });
    // Loaded before the first Check is answered: a listed source is never let through at start.
    await feeds.load();
    feeds.start(config.WARDEN_ENFORCER_FEED_REFRESH_MS);
    started.push(() => feeds.stop());
    const revocations = new Revocations();
    started.push(() => revocations.stop());
    const { replayed } = await revocations.load(bus);
    log.info({ revocationEvents: replayed, serials: revocations.size }, 'revocations loaded');
    const terminators = new Terminators({
      dir: config.WARDEN_ENFORCER_TERMINATOR_DIR,
      trustDomain: config.WARDEN_TRUST_DOMAIN,
      log,
      runtimeCall: (command, outcome) => metrics.haproxyCalls.inc({ command, outcome }),
    });
    started.push(() => terminators.stop());
    if (config.WARDEN_ENFORCER_TERMINATORS_FILE) {
      const file = config.WARDEN_ENFORCER_TERMINATORS_FILE;
      await terminators.start(
        parseTerminators(readFileSync(file, 'utf8'), file),
        containment.active(new Date()),
        revocations.all(),
      );
      const follow = followTerminators({
        terminators,
        containment,
        revocations,
        debounceMs: config.WARDEN_ENFORCER_XDS_DEBOUNCE_MS,
        log,
      });
      started.push(() => follow.stop());
    }

    const records = new DecisionRecords({
      bus,
      flushMs: config.WARDEN_ENFORCER_RECORD_FLUSH_MS,
      capacity: config.WARDEN_ENFORCER_RECORD_BUFFER,
      dropped: metrics.recordsDropped,
      published: metrics.recordsPublished,
      onError: (err) => log.warn({ err }, 'decision records not published'),
    });
    started.push(() => records.flush());
    const handler = new CheckHandler({
      decide: (request) => decider.decide(request),
      revision: () => follower.appliedRevision,
      inspect: (pem) => inspectCertificate(pem),
      isRevoked: (serial) => revocations.isRevoked(serial),
      contained: (request, now) => containment.match(request, now),
      listed: ({ addresses, principal }) => {
        const index = feeds.index;
        const match =
          addresses.map((a) => index.matchAddress(a)).find((m) => m !== undefined) ??
          index.matchPrincipal(spiffeUri(principal));
        return match && `feed[${match.feed}]:${match.entry}`;
      },
      requirePeerCertificate: config.WARDEN_ENFORCER_REQUIRE_PEER_CERTIFICATE,
      record: (record) => records.add(record),
      allowSample: config.WARDEN_ENFORCER_ALLOW_SAMPLE,
      count: (allowed, reason) => metrics.decisions.inc({ result: allowed ? 'allow' : 'deny', reason }),
    });
    const timed: Checker = {
      check: (request) => {
        const end = metrics.checkSeconds.startTimer();
        try {
          return handler.check(request);
        } finally {
          end();
        }
      },
    };
    const server = await startExtAuthzServer(
      timed,
      config.WARDEN_ENFORCER_EXT_AUTHZ_HOST,
      config.WARDEN_ENFORCER_EXT_AUTHZ_PORT,
    );
    started.push(() => server.stop());
    log.info({ port: server.port }, 'ext_authz listening');

    const raiseNack = (nack: NackEvent): void => {
      metrics.adsNacks.inc({ type_url: nack.typeUrl });
      const identity = istioIdentityOf(nack.node);
      const target = identity
        ? { namespace: identity.namespace, workload: identity.serviceAccount }
        : { namespace: 'unknown', workload: 'unknown' };
      bus
        .publish(
          alert,
          {
            alertId: `ads-nack:${nack.node}:${nack.typeUrl}:${nack.version}`,
            status: 'firing',
            severity: 'warning',
            rule: 'ads-configuration-rejected',
            target,
            summary:
              `${nack.node || 'a data plane'} rejected ${nack.typeUrl} version ${nack.version}: ${nack.message}`.slice(
                0,
                4096,
              ),
            labels: { node: nack.node.slice(0, 253) },
            startsAt: new Date().toISOString(),
          },
          { qualifiers: { severity: 'warning', ...target } },
        )
        .catch((err: unknown) => log.warn({ err }, 'NACK alert not published'));
    };
    const hub = new AdsHub({
      log,
      onNack: raiseNack,
      onPush: (n) => metrics.adsPushes.inc(n),
      onStreams: (n) => metrics.adsStreams.set(n),
    });
    const registry = new MeshRegistry(bus, log);
    registry.start();
    started.push(() => registry.stop());
    const xdsPublisher = publishXds({
      hub,
      engine,
      containment,
      registry,
      trustDomain: config.WARDEN_TRUST_DOMAIN,
      envoy: {
        extAuthz: extAuthzAddress(
          config.WARDEN_ENFORCER_EXT_AUTHZ_ADVERTISE,
          config.WARDEN_ENFORCER_EXT_AUTHZ_HOST,
          server.port,
        ),
        extAuthzTimeoutMs: config.WARDEN_ENFORCER_ENVOY_EXT_AUTHZ_TIMEOUT_MS,
        maxRequestBytes: config.WARDEN_ENFORCER_ENVOY_MAX_REQUEST_BYTES,
      },
      debounceMs: config.WARDEN_ENFORCER_XDS_DEBOUNCE_MS,
      log,
      built: (seconds) => metrics.xdsBuildSeconds.observe(seconds),
    });
    started.push(() => xdsPublisher.stop());
    const xds = await startAdsServer(hub, config.WARDEN_ENFORCER_XDS_HOST, config.WARDEN_ENFORCER_XDS_PORT);
    started.push(() => xds.stop());
    log.info({ port: xds.port }, 'ADS listening');
    // Any replica answers: they share the bucket, and each names itself.
    const status = bus.serve(
      enforcerStatus,
      () => ({
        decisionPoint: instance,
        revision: follower.appliedRevision,
        dryRunRevision: follower.dryRunRevision,
        revokedSerials: revocations.size,
        containment: containment.active(new Date()),
        xdsVersion: hub.version,
        dataPlanes: hub.dataPlanes(),
        terminators: terminators.status(),
      }),
      { queue: 'enforcer' },
    );
    started.push(() => status.unsubscribe());
    return { extAuthzPort: server.port, xdsPort: xds.port, follower, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
