import { policyApplied, policyStatus, policySubmit } from '@warden/events';
import { PolicyStore } from '@warden/policy-store';
import type { ServiceContext, Started } from '@warden/runtime';
import { Counter } from 'prom-client';
import type { PolicyConfig } from './config.ts';
import { PolicyLifecycle } from './lifecycle.ts';

/**
 * The policy service: consumes submissions one at a time (a durable consumer shared by every
 * instance), answers status requests, and records what decision points applied.
 */
export async function startPolicyService(ctx: ServiceContext<PolicyConfig>): Promise<Started> {
  const store = await PolicyStore.open(ctx.nc);
  const lifecycle = new PolicyLifecycle({
    store,
    bus: ctx.bus,
    log: ctx.log,
    compile: { opa: ctx.config.WARDEN_OPA_PATH, timeoutMs: ctx.config.WARDEN_OPA_TIMEOUT_MS },
    metrics: {
      outcomes: new Counter({
        name: 'warden_policy_submissions_total',
        help: 'Policy submissions by kind and outcome (committed, rejected).',
        labelNames: ['kind', 'outcome'],
        registers: [ctx.registry],
      }),
    },
  });
  const submissions = await ctx.bus.consume(policySubmit, (event) => lifecycle.handle(event), {
    durable: 'policy-submissions',
    // opa build can take seconds; the ack wait must outlast it.
    ackWaitMs: ctx.config.WARDEN_OPA_TIMEOUT_MS + 30_000,
  });
  const applied = await ctx.bus.consume(
    policyApplied,
    (event) => lifecycle.recordApplied(event.data.revision, event.data.decisionPoint, event.time),
    { durable: 'policy-rollout' },
  );
  const rolloutWatch = await lifecycle.watchRollout();
  const status = ctx.bus.serve(policyStatus, (request) => lifecycle.status(request), { queue: 'policy' });
  return {
    stop: async () => {
      status.unsubscribe();
      rolloutWatch.stop();
      await submissions.stop();
      await applied.stop();
    },
  };
}
