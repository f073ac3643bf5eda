import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

export type PolicyMetrics = { outcomes: Counter<'kind' | 'outcome'> };

export function createPolicyMetrics(registry: Registry): PolicyMetrics {
  return {
    outcomes: new Counter({
      name: 'warden_policy_submissions_total',
      help: 'Policy submissions by kind and outcome (committed, rejected).',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
  };
}
