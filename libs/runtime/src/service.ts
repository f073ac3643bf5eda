import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import { Backoff, messageOf, pause } from '@warden/core';
import { checkpointSigner } from '@warden/audit';
import {
  Bus,
  createBusMetrics,
  isPermissionDenied,
  ownedResources,
  provision,
  StreamName,
} from '@warden/events';
import type { ProvisionTargets, ServiceName } from '@warden/events';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { z } from 'zod';
import type { BaseConfig } from './config.ts';
import { baseConfig, loadConfig } from './config.ts';
import { startOpsServer } from './http.ts';
import type { Logger } from './logger.ts';
import { createLogger } from './logger.ts';
import { connectNats, readSeed } from './nats.ts';

export type ServiceContext<C> = {
  readonly name: ServiceName;
  readonly instance: string;
  readonly config: C & BaseConfig;
  readonly log: Logger;
  readonly registry: Registry;
  readonly nc: NatsConnection;
  readonly bus: Bus;
};

/** What a service's start function hands back: how to stop what it started. */
export type Started = { stop?(): Promise<void> };

export type ServiceSpec<S extends z.ZodObject = z.ZodObject> = {
  name: ServiceName;
  /** Settings beyond the base ones, validated with the base ones. */
  config?: S;
  start(ctx: ServiceContext<z.infer<S>>): Promise<Started>;
};

export type RunningService = {
  readonly ctx: ServiceContext<unknown>;
  readonly httpPort: number;
  stop(reason: string): Promise<void>;
};

/**
 * Boots a service: config, logging, metrics, health endpoints, the NATS connection with the
 * service's own credentials, provisioning of the streams and buckets it writes, then its own
 * start. SIGTERM and SIGINT stop it in reverse order, draining NATS so nothing in flight is lost.
 */
export async function runService<S extends z.ZodObject>(
  spec: ServiceSpec<S>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningService> {
  const schema = spec.config ? baseConfig.extend(spec.config.shape) : baseConfig;
  const config = loadConfig(spec.name, schema, env) as z.infer<S> & BaseConfig;
  const instance = config.WARDEN_INSTANCE ?? `${spec.name}-${hostname()}-${process.pid}`;
  const log = createLogger({ service: spec.name, instance, level: config.WARDEN_LOG_LEVEL });
  const registry = new Registry();
  registry.setDefaultLabels({ service: spec.name });
  collectDefaultMetrics({ register: registry });
  const up = new Gauge({
    name: 'warden_service_ready',
    help: '1 when the service is ready.',
    registers: [registry],
  });

  let phase = 'starting';
  let nc: NatsConnection | undefined = undefined;
  let natsConnected = false;
  const ops = await startOpsServer({
    host: config.WARDEN_HTTP_HOST,
    port: config.WARDEN_HTTP_PORT,
    registry,
    health: {
      notReadyReason: () => {
        if (phase !== 'ready') return phase;
        if (!nc || nc.isClosed()) return 'nats connection closed';
        if (!natsConnected) return 'nats disconnected; reconnecting';
        if (nc.isDraining()) return 'draining';
        return null;
      },
    },
  });
  log.info({ http: `http://${config.WARDEN_HTTP_HOST}:${ops.port}` }, 'ops endpoints listening');

  let bus: Bus;
  let started: Started;
  let ctx: ServiceContext<z.infer<S>>;
  try {
    phase = 'connecting to nats';
    nc = await connectNats({
      url: config.WARDEN_NATS_URL,
      principal: spec.name,
      instance,
      seedFile: config.WARDEN_NATS_SEED_FILE,
      logger: log,
    });
    natsConnected = true;
    const connection = nc;
    void (async () => {
      for await (const status of connection.status()) {
        if (status.type === 'disconnect') natsConnected = false;
        else if (status.type === 'reconnect') natsConnected = true;
      }
    })();
    bus = new Bus(nc, {
      source: instance,
      logger: log,
      metrics: createBusMetrics(registry),
      // Checkpoints are signed with the key the server authenticates this principal with.
      audit: {
        principal: spec.name,
        ...(config.WARDEN_NATS_SEED_FILE
          ? { signer: checkpointSigner(readSeed(config.WARDEN_NATS_SEED_FILE)) }
          : {}),
        checkpointEvery: config.WARDEN_AUDIT_CHECKPOINT_EVERY,
        checkpointIntervalMs: config.WARDEN_AUDIT_CHECKPOINT_INTERVAL_MS,
      },
    });

    phase = 'provisioning';
    await provisionWithRetry(nc, spec.name, log, {
      retention: {
        [StreamName.audit]: {
          maxAgeMs: config.WARDEN_AUDIT_MAX_AGE_DAYS * 86_400_000,
          maxBytes: config.WARDEN_AUDIT_MAX_BYTES,
        },
      },
      replicas: config.WARDEN_JETSTREAM_REPLICAS,
    });

    ctx = { name: spec.name, instance, config, log, registry, nc, bus };
    phase = 'starting components';
    started = await spec.start(ctx);
  } catch (err) {
    // A service that cannot start leaves nothing behind: no listener, no connection.
    await nc?.close().catch(() => undefined);
    await ops.close();
    throw err;
  }
  phase = 'ready';
  up.set(1);
  log.info({ nats: config.WARDEN_NATS_URL }, 'ready');
  await auditLifecycle(bus, spec.name, instance, 'start', log);

  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason }, 'stopping');
      phase = 'stopping';
      up.set(0);
      try {
        await started.stop?.();
      } catch (err) {
        log.error({ err }, 'component stop failed');
      }
      await auditLifecycle(bus, spec.name, instance, 'stop', log);
      await bus
        .closeAudit()
        .catch((err: unknown) => log.warn({ err }, 'could not sign the audit chain on stop'));
      await nc?.drain().catch((err: unknown) => log.warn({ err }, 'nats drain failed'));
      await ops.close();
      log.info('stopped');
    })();
    return stopping;
  };
  return { ctx: ctx as ServiceContext<unknown>, httpPort: ops.port, stop };
}

/** Starts and stops are audit events: who ran what, and when, is part of the record. */
async function auditLifecycle(
  bus: Bus,
  name: ServiceName,
  instance: string,
  action: 'start' | 'stop',
  log: Logger,
): Promise<void> {
  try {
    await bus.audit({
      kind: 'service',
      actor: instance,
      action: `service.${action}`,
      target: name,
      outcome: 'success',
      details: { pid: process.pid },
    });
  } catch (err) {
    log.warn({ err, action }, 'could not write the lifecycle audit event');
  }
}

/** Streams may be unavailable for a moment while JetStream starts; keep trying with backoff. */
async function provisionWithRetry(
  nc: NatsConnection,
  name: ServiceName,
  log: Logger,
  settings: Pick<ProvisionTargets, 'retention' | 'replicas'>,
): Promise<void> {
  const owned = { ...ownedResources(name), ...settings };
  const backoff = new Backoff({ initialMs: 200, maxMs: 5000 });
  for (;;) {
    try {
      await provision(nc, owned);
      log.info(owned, 'provisioned');
      return;
    } catch (err) {
      // Waiting does not fix a permission the server refuses: that is a deployment error.
      if (backoff.attempts >= 9 || isPermissionDenied(err)) throw err;
      const delayMs = backoff.next();
      log.warn(
        { reason: messageOf(err), attempt: backoff.attempts, delayMs },
        'provisioning failed; retrying',
      );
      await pause(delayMs);
    }
  }
}

/**
 * The entry point of a service process: runs it, stops it on SIGTERM/SIGINT, and exits non-zero
 * with a clear message when it cannot start.
 */
export function main<S extends z.ZodObject>(spec: ServiceSpec<S>): void {
  runService(spec).then(
    (service) => {
      const graceMs = Number(process.env['WARDEN_SHUTDOWN_GRACE_MS'] ?? 10_000) || 10_000;
      const onSignal = (signal: string): void => {
        const deadline = setTimeout(() => {
          service.ctx.log.error({ graceMs }, 'shutdown took too long; exiting');
          process.exit(1);
        }, graceMs);
        deadline.unref();
        void service.stop(signal).then(() => process.exit(0));
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      process.on('unhandledRejection', (err) => {
        service.ctx.log.fatal(
          { err },
          'unhandled rejection; exiting so the supervisor restarts a clean process',
        );
        process.exit(1);
      });
    },
    (err: unknown) => {
      process.stderr.write(`${spec.name}: cannot start: ${messageOf(err)}\n`);
      process.exit(1);
    },
  );
}
