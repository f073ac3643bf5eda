import type { Subscription } from '@nats-io/nats-core';
import {
  audit,
  caBundle,
  caSign,
  caToken,
  enforceRevoke,
  identityBundle,
  identityIssued,
  identityRevoked,
} from '@warden/events';
import type { DataOf, Envelope, ReplyOf, RunningConsumer } from '@warden/events';
import { isSpiffeId, normaliseSerial, parseSpiffeId } from '@warden/pki';
import type { ServiceContext, Started } from '@warden/runtime';
import { Redis } from 'ioredis';
import { Counter, Gauge } from 'prom-client';
import { attestors, joinTokenAttestor, svidAttestor } from './attest.ts';
import { issue } from './authority.ts';
import type { CaConfig } from './config.ts';
import { resolveSettings } from './config.ts';
import { CaError } from './errors.ts';
import { IssuedIndex } from './issued-index.ts';
import { kubernetesTokenAttestor } from './k8s-attestor.ts';
import { ApiTokenReviewer, loadKubeConfig } from './k8s-token-review.ts';
import { localKms } from './kms.ts';
import { crlCache, startHttpApi } from './http-api.ts';
import { rebuildIndex } from './replay.ts';
import { loadOrCreateTrustDomain, loadTrustDomain, manifestStamp } from './state.ts';
import type { StateOptions } from './state.ts';
import { JoinTokens } from './tokens.ts';
import { TrustDomain } from './trust-domain.ts';

const QUEUE = 'ca';
/** How often the CA checks that Redis still holds a complete index (it may have lost it). */
const INDEX_CHECK_MS = 2000;
const REVOKE_RETRY_MS = 2000;
/**
 * How often the CA looks for a rotation written by `warden ca rotate` and for a scheduled
 * activation or a root leaving the bundle; a changed bundle is published at once.
 */
const GENERATIONS_CHECK_MS = 1000;
const RELOAD_RETRY_MIN_MS = 5000;
const RELOAD_RETRY_MAX_MS = 60_000;

function redisHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(unparsable URL)';
  }
}

export class TokenRequestError extends CaError {
  constructor(message: string) {
    super('token_request', message);
    this.name = 'TokenRequestError';
  }
}

/** Starts the CA inside the service runtime: trust domain, index, attestors, responders, consumers. */
export async function startCa(ctx: ServiceContext<CaConfig>): Promise<Started> {
  const { config, bus, log } = ctx;
  const settings = resolveSettings(config);
  const kms = localKms(settings.kek);
  // Loaded before anything is opened: a bad kubeconfig is a configuration error at start.
  const kubernetes = settings.kubernetes && {
    reviewer: new ApiTokenReviewer(loadKubeConfig(settings.kubernetes.source)),
    audiences: settings.kubernetes.audiences,
  };
  const stateOptions: StateOptions = {
    dir: config.WARDEN_CA_DIR,
    kms,
    trustDomain: config.WARDEN_TRUST_DOMAIN,
    algorithm: config.WARDEN_CA_KEY_ALGORITHM,
    rootTtlDays: config.WARDEN_CA_ROOT_TTL_DAYS,
    intermediateTtlDays: config.WARDEN_CA_INTERMEDIATE_TTL_DAYS,
    nameConstraints: config.WARDEN_CA_NAME_CONSTRAINTS,
  };
  // Read before loading: a rotation written meanwhile is then seen as a change and loaded.
  const stamp = manifestStamp(config.WARDEN_CA_DIR);
  const material = await loadOrCreateTrustDomain(stateOptions);
  const trustDomain = new TrustDomain(material, config.WARDEN_CA_MAX_TTL_SECONDS);
  log.info(
    {
      trustDomain: material.trustDomain,
      algorithm: material.algorithm,
      created: material.created,
      kek: kms.keyId,
      intermediate: trustDomain.active().id,
      roots: trustDomain.bundleRoots().map((r) => r.id),
    },
    material.created ? 'trust domain created' : 'trust domain loaded',
  );

  // No offline queue: while Redis is away a command fails at once and the CA refuses, not waits.
  const redis = new Redis(config.WARDEN_REDIS_URL, {
    // Commands issued in one tick go out in one write: under load, many issuances share a syscall.
    enableAutoPipelining: true,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
  });
  redis.on('error', (err: unknown) => log.warn({ err }, 'redis error'));
  // Whatever this start opened is closed again if a later step fails: no half-started CA.
  const cleanups: (() => unknown)[] = [() => redis.disconnect()];
  try {
    await redis.connect().catch((cause: unknown) => {
      // The host only: the URL may carry a password.
      throw new CaError('redis_unavailable', `cannot reach Redis at ${redisHost(config.WARDEN_REDIS_URL)}`, {
        cause,
      });
    });
    const index = new IssuedIndex(redis);
    const tokens = new JoinTokens(redis);

    let rebuilding: Promise<unknown> | undefined;
    const ensureIndex = async (): Promise<void> => {
      if (rebuilding) return void (await rebuilding);
      if (await index.isComplete()) return;
      log.warn('issued index missing from redis; rebuilding it from the identity stream');
      rebuilding = rebuildIndex(ctx.nc, index, log).finally(() => {
        rebuilding = undefined;
      });
      await rebuilding;
    };
    await ensureIndex();

    const issued = new Counter({
      name: 'warden_ca_issued_total',
      help: 'SVIDs issued, by attestation method.',
      labelNames: ['method'],
      registers: [ctx.registry],
    });
    const refused = new Counter({
      name: 'warden_ca_sign_refused_total',
      help: 'Sign requests refused, by error code.',
      labelNames: ['code'],
      registers: [ctx.registry],
    });

    // `k8s-sat` only when a Kubernetes API is configured; otherwise refused (attestor_unavailable).
    const attest = attestors({
      'join-token': joinTokenAttestor(tokens),
      svid: svidAttestor({
        index,
        trustDomain: trustDomain.trustDomain,
        roots: () => trustDomain.bundle().rootsPem,
      }),
      ...(kubernetes
        ? { 'k8s-sat': kubernetesTokenAttestor({ ...kubernetes, trustDomain: trustDomain.trustDomain }) }
        : {}),
    });
    if (kubernetes)
      log.info(
        { server: kubernetes.reviewer.server, audiences: kubernetes.audiences },
        'k8s-sat attestation through Kubernetes TokenReview',
      );
    const authority = {
      trustDomain,
      attest,
      defaultTtlSeconds: config.WARDEN_CA_DEFAULT_TTL_SECONDS,
      maxTtlSeconds: config.WARDEN_CA_MAX_TTL_SECONDS,
    };

    const sign = async (request: DataOf<typeof caSign>): Promise<ReplyOf<typeof caSign>> => {
      try {
        const result = await issue(authority, request);
        // The stream is the record: the event is stored before the certificate is handed out.
        await bus.publish(identityIssued, {
          serial: result.serial,
          spiffeId: result.spiffeId,
          notBefore: result.notBefore,
          notAfter: result.notAfter,
          issuer: result.issuer,
        });
        await index.recordIssued(result);
        issued.inc({ method: result.method });
        return {
          chainPem: result.chainPem,
          spiffeId: result.spiffeId,
          serial: result.serial,
          notAfter: result.notAfter,
        };
      } catch (err) {
        refused.inc({
          code: err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : 'internal',
        });
        throw err;
      }
    };

    const bundle = (): ReplyOf<typeof caBundle> => trustDomain.bundle();

    const createToken = async (
      request: DataOf<typeof caToken>,
      envelope: Envelope<DataOf<typeof caToken>>,
    ): Promise<ReplyOf<typeof caToken>> => {
      const id = parseSpiffeId(request.spiffeId);
      if (id.trustDomain !== trustDomain.trustDomain)
        throw new TokenRequestError(`${id.uri} is not in trust domain ${trustDomain.trustDomain}`);
      if (id.path === '')
        throw new TokenRequestError('a join token must name a workload SPIFFE ID, not the trust domain');
      const ttl = request.ttlSeconds ?? Math.min(3600, config.WARDEN_CA_TOKEN_MAX_TTL_SECONDS);
      if (ttl > config.WARDEN_CA_TOKEN_MAX_TTL_SECONDS)
        throw new TokenRequestError(
          `token TTL of ${ttl} s exceeds the maximum of ${config.WARDEN_CA_TOKEN_MAX_TTL_SECONDS} s`,
        );
      const created = await tokens.create(id.uri, ttl);
      await bus
        .publish(
          audit,
          {
            actor: envelope.source,
            action: 'ca.token.create',
            target: id.uri,
            outcome: 'success',
            details: { expiresAt: created.expiresAt },
          },
          { qualifiers: { kind: 'identity' } },
        )
        .catch((err: unknown) => log.warn({ err }, 'could not audit a token creation'));
      return { token: created.token, spiffeId: id.uri, expiresAt: created.expiresAt };
    };

    const revoke = async (event: Envelope<DataOf<typeof enforceRevoke>>): Promise<void> => {
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
      crl.invalidate();
      log.info({ serials, spiffeId, reason: data.reason, by: event.source }, 'revoked');
    };

    const crl = crlCache(trustDomain, index);
    const http = await startHttpApi({
      host: config.WARDEN_CA_HTTP_HOST,
      port: config.WARDEN_CA_HTTP_PORT,
      trustDomain,
      crl,
      log,
    });
    cleanups.push(() => http.close());

    const subscriptions: Subscription[] = [
      bus.serve(caSign, sign, { queue: QUEUE }),
      bus.serve(caBundle, bundle, { queue: QUEUE }),
      bus.serve(caToken, createToken, { queue: QUEUE }),
    ];
    cleanups.push(() => subscriptions.forEach((sub) => sub.unsubscribe()));
    await ctx.nc.flush();
    const generations = watchGenerations({ ctx, trustDomain, stateOptions, stamp, crl });
    await generations.publishBundle();

    // WARDEN_ENFORCEMENT belongs to its publishers (enforcer, console); until one has created it
    // the CA keeps trying, so boot order does not matter.
    let revocations: RunningConsumer | undefined;
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    const startRevocations = async (): Promise<void> => {
      try {
        revocations = await bus.consume(enforceRevoke, revoke, { durable: 'ca-revoke', deliver: 'all' });
        log.info('consuming revocation requests');
      } catch (err) {
        if (stopped) return;
        log.debug({ err }, 'revocation stream not available yet; retrying');
        retry = setTimeout(() => void startRevocations(), REVOKE_RETRY_MS);
      }
    };
    await startRevocations();
    const watchdog = setInterval(() => {
      ensureIndex().catch((err: unknown) => log.error({ err }, 'index check failed'));
    }, INDEX_CHECK_MS);
    const generationsTimer = setInterval(() => void generations.check(), GENERATIONS_CHECK_MS);

    return {
      stop: async () => {
        stopped = true;
        clearInterval(watchdog);
        clearInterval(generationsTimer);
        await generations.idle();
        clearTimeout(retry);
        for (const sub of subscriptions) sub.unsubscribe();
        await revocations?.stop();
        await rebuilding?.catch(() => undefined);
        await http.close();
        await redis.quit().catch(() => redis.disconnect());
      },
    };
  } catch (err) {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    throw err;
  }
}

/**
 * Follows the trust domain's generations while the CA runs: reloads the manifest when
 * `warden ca rotate` has written a new one, notices an activation or a root leaving the bundle
 * as time passes, and publishes the bundle whenever it changed (agents and enforcers follow
 * `warden.identity.v1.bundle`). A manifest that does not load is logged and counted, and the
 * generations already loaded keep serving.
 */
function watchGenerations(options: {
  ctx: ServiceContext<CaConfig>;
  trustDomain: TrustDomain;
  stateOptions: StateOptions;
  stamp: string;
  crl: { invalidate(): void };
}): { check(): Promise<void>; publishBundle(): Promise<void>; idle(): Promise<void> } {
  const { ctx, trustDomain, stateOptions, crl } = options;
  const { bus, log, registry } = ctx;
  let stamp = options.stamp;
  let published = '';
  let activeId = trustDomain.active().id;
  let running: Promise<void> | undefined;
  const reloads = new Counter({
    name: 'warden_ca_manifest_reloads_total',
    help: 'Reloads of the CA manifest after a rotation, by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  new Gauge({
    name: 'warden_ca_active_intermediate_expiry_seconds',
    help: 'Seconds until the intermediate that signs now expires (rotate well before 0).',
    registers: [registry],
    collect() {
      this.set((trustDomain.active().notAfter.getTime() - Date.now()) / 1000);
    },
  });
  new Gauge({
    name: 'warden_ca_bundle_roots',
    help: 'Roots in the trust bundle (2 while a root rotation is under way).',
    registers: [registry],
    collect() {
      this.set(trustDomain.bundleRoots().length);
    },
  });
  const publishBundle = async (): Promise<void> => {
    const bundle = trustDomain.bundle();
    const text = JSON.stringify(bundle);
    if (text === published) return;
    if (bundle.rootsPem.length === 0) {
      // Every intermediate has expired: nothing is trustworthy to publish, and nothing issued
      // now verifies. Said once per state, not every second.
      if (published !== 'empty')
        log.error('no live intermediate: the trust domain has expired; run `warden ca rotate --root`');
      published = 'empty';
      return;
    }
    // The CRLs first: an agent refetches them as soon as the event arrives.
    crl.invalidate();
    await bus.publish(identityBundle, bundle);
    published = text;
    log.info(
      { sequence: bundle.sequence, roots: trustDomain.bundleRoots().map((r) => r.id) },
      'bundle published',
    );
  };
  // A manifest that does not load (a key file not readable yet, a rotation half copied) is
  // tried again with backoff, not only when the file changes again.
  let retryAt = 0;
  let retryDelayMs = RELOAD_RETRY_MIN_MS;
  const step = async (): Promise<void> => {
    const now = manifestStamp(stateOptions.dir);
    if (now !== stamp && Date.now() >= retryAt) {
      try {
        trustDomain.replace(await loadTrustDomain(stateOptions));
        // A new intermediate's CRL is served from now on, bundle change or not.
        crl.invalidate();
        stamp = now;
        retryAt = 0;
        retryDelayMs = RELOAD_RETRY_MIN_MS;
        reloads.inc({ outcome: 'loaded' });
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
        retryAt = Date.now() + retryDelayMs;
        reloads.inc({ outcome: 'failed' });
        log.error(
          { err, retryInMs: retryDelayMs },
          'the new CA manifest does not load; the loaded generations keep serving',
        );
        retryDelayMs = Math.min(retryDelayMs * 2, RELOAD_RETRY_MAX_MS);
      }
    }
    const active = trustDomain.active().id;
    if (active !== activeId) {
      log.info({ from: activeId, to: active }, 'issuing moved to a new intermediate');
      activeId = active;
      crl.invalidate();
    }
    await publishBundle();
  };
  return {
    publishBundle,
    // A tick while the previous check still runs (a slow reload) is skipped, not queued.
    check: () =>
      (running ??= step()
        .catch((err: unknown) => log.warn({ err }, 'generation check failed'))
        .finally(() => {
          running = undefined;
        })),
    idle: async () => {
      await running;
    },
  };
}
