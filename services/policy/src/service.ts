import type { NatsConnection } from '@nats-io/nats-core';
import type { Bus } from '@warden/events';
import { policyApplied, policyStatus, policySubmit } from '@warden/events';
import { PolicyStore } from '@warden/policy-store';
import type { Logger } from '@warden/runtime';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { PolicyConfig } from './config.ts';
import { PolicyLifecycle } from './lifecycle.ts';
import { createPolicyMetrics } from './metrics.ts';

export type PolicyDeps = {
  nc: NatsConnection;
  bus: Bus;
  log: Logger;
  metricsRegistry: MetricsRegistry;
  config: PolicyConfig;
};

export type RunningPolicy = { stop(): Promise<void> };

const SUBMISSION_ACK_WAIT_MS = 5_000;

/**
 * The policy service: consumes submissions one at a time in the whole deployment (a durable
 * consumer shared by every instance, with one event pending at most, so two replicas never build
 * on the same base revision), answers status requests, and records what decision points applied.
 */
export async function startPolicy(deps: PolicyDeps): Promise<RunningPolicy> {
  const { bus, config } = deps;
  const lifecycle = new PolicyLifecycle({
    store: await PolicyStore.open(deps.nc),
    bus,
    log: deps.log,
    compile: {
      opa: config.WARDEN_OPA_PATH,
      timeoutMs: config.WARDEN_OPA_TIMEOUT_MS,
      limits: { maxDataBytes: config.WARDEN_POLICY_MAX_DATA_BYTES, maxDepth: config.WARDEN_POLICY_MAX_DEPTH },
    },
    metrics: createPolicyMetrics(deps.metricsRegistry),
  });
  const submissions = await bus.consume(policySubmit, (event) => lifecycle.handle(event), {
    durable: 'policy-submissions',
    onInvalid: (invalid) => lifecycle.rejectInvalid(invalid),
    maxAckPending: 1,
    // The bus tells the server every half ack wait that a long `opa build` is still running, so
    // the wait only bounds how long a crashed replica holds the queue up.
    ackWaitMs: SUBMISSION_ACK_WAIT_MS,
  });
  const applied = await bus.consume(
    policyApplied,
    (event) => lifecycle.recordApplied(event.data.revision, event.data.decisionPoint, event.time),
    { durable: 'policy-rollout' },
  );
  const rolloutWatch = await lifecycle.watchRollout();
  const status = bus.serve(policyStatus, (request) => lifecycle.status(request), { queue: 'policy' });
  return {
    stop: async () => {
      status.unsubscribe();
      rolloutWatch.stop();
      await submissions.stop();
      await applied.stop();
    },
  };
}
