import type { Subscription } from '@nats-io/nats-core';
import { Kvm } from '@nats-io/kv';
import { BucketName, CA_LEASE_TTL_MS, Lease } from '@warden/events';
import type { Bus } from '@warden/events';
import type { Logger } from '@warden/runtime';
import { folderSettings } from '@warden/trust-domain';
import type { TrustDomain } from '@warden/trust-domain';
import type { Registry as MetricsRegistry } from 'prom-client';
import { caAttestor } from './attest.ts';
import type { CaConfig } from './config.ts';
import { resolveSettings } from './config.ts';
import { GenerationWatcher, openTrustDomain } from './generations.ts';
import { CrlIssuer, CrlStore } from './crls.ts';
import { startHttpApi } from './http-api.ts';
import { IssuedIndex } from './issued-index.ts';
import { Leadership } from './leadership.ts';
import { ApiTokenReviewer, loadKubeConfig } from './k8s-token-review.ts';
import { createCaMetrics } from './metrics.ts';
import { connectRedis } from './redis.ts';
import { IndexKeeper } from './replay.ts';
import { serveRequests } from './responders.ts';
import { consumeRevocations } from './revocation.ts';
import { JoinTokens } from './tokens.ts';

export type CaDeps = {
  bus: Bus;
  log: Logger;
  metricsRegistry: MetricsRegistry;
  config: CaConfig;
};

export type RunningCa = {
  readonly trustDomain: TrustDomain;
  stop(): Promise<void>;
};

/** How often the CA checks that Redis still holds a complete index (it may have lost it). */
const INDEX_CHECK_MS = 2000;

/**
 * Starts the CA on a connected bus: its trust domain (created on a first start), the issued
 * index in Redis (rebuilt from the identity stream when Redis lost it, checked every 2 s), the
 * attestors, the sign, bundle and token responders, the bundle and CRLs over HTTP, the watch over
 * the generations and the revocation consumer. Whatever a failed start opened is closed again.
 */
export async function startCa(deps: CaDeps): Promise<RunningCa> {
  const { bus, log, config } = deps;
  const settings = resolveSettings(config);
  // Loaded before anything is opened: a bad kubeconfig is a configuration error at start.
  const kubernetes = settings.kubernetes && {
    reviewer: new ApiTokenReviewer(loadKubeConfig(settings.kubernetes.source)),
    audiences: settings.kubernetes.audiences,
  };
  const folder = folderSettings(config, settings.kek);
  const { trustDomain, stamp } = await openTrustDomain(folder, log);
  const redis = await connectRedis(config, log);
  const index = new IssuedIndex(redis);
  const tokens = new JoinTokens(redis, await new Kvm(bus.nc).open(BucketName.joinTokens));
  const keeper = new IndexKeeper({ bus, index, log });
  const metrics = createCaMetrics(deps.metricsRegistry, trustDomain);
  const kvm = new Kvm(bus.nc);
  const crls = new CrlStore(await kvm.open(BucketName.caCrl));
  const lease = await Lease.open(bus.nc, {
    bucket: BucketName.caLease,
    key: 'issuer',
    holder: bus.source,
    ttlMs: CA_LEASE_TTL_MS,
    log,
    onChange: (held) => leadership.change(held),
  });
  const issuer = new CrlIssuer({ trustDomain, index, store: crls, lease, log });
  const generations = new GenerationWatcher({
    bus,
    log,
    metrics,
    trustDomain,
    state: folder,
    stamp,
    crl: issuer,
    lease,
  });
  const leadership = new Leadership({
    log,
    metrics,
    issuer,
    generations,
    revocations: () => consumeRevocations({ bus, log, index, crl: issuer }),
  });
  let http: Awaited<ReturnType<typeof startHttpApi>> | undefined;
  let subscriptions: Subscription[] = [];
  let watchdog: NodeJS.Timeout | undefined;
  const stop = async (): Promise<void> => {
    clearInterval(watchdog);
    await generations.stop();
    for (const sub of subscriptions) sub.unsubscribe();
    // Released before the rest stops, so a standby takes over at once.
    await lease.stop();
    await leadership.idle();
    await issuer.stop();
    await keeper.idle();
    await http?.close();
    await redis.quit().catch(() => redis.disconnect());
  };
  try {
    await keeper.ensure();
    if (kubernetes)
      log.info(
        { server: kubernetes.reviewer.server, audiences: kubernetes.audiences },
        'k8s-sat attestation through Kubernetes TokenReview',
      );
    const authority = {
      trustDomain,
      attest: caAttestor({ tokens, index, trustDomain, kubernetes }),
      defaultTtlSeconds: config.WARDEN_CA_DEFAULT_TTL_SECONDS,
      maxTtlSeconds: config.WARDEN_CA_MAX_TTL_SECONDS,
    };
    http = await startHttpApi({
      host: config.WARDEN_CA_HTTP_HOST,
      port: config.WARDEN_CA_HTTP_PORT,
      trustDomain,
      crls,
      log,
    });
    subscriptions = serveRequests({
      bus,
      log,
      metrics,
      authority,
      index,
      tokens,
      tokenMaxTtlSeconds: config.WARDEN_CA_TOKEN_MAX_TTL_SECONDS,
    });
    await bus.nc.flush();
    issuer.start();
    // The lease before the generations: the holder publishes the bundle on its first check.
    await lease.start();
    await leadership.idle();
    await generations.start();
    watchdog = setInterval(() => {
      keeper.ensure().catch((err: unknown) => log.error({ err }, 'index check failed'));
    }, INDEX_CHECK_MS);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { trustDomain, stop };
}
