export { policyConfig } from './config.ts';
export type { PolicyConfig } from './config.ts';
export type { PolicyDeps, RunningPolicy } from './service.ts';
export { startPolicy } from './service.ts';
export { policyService } from './spec.ts';
export { PolicyLifecycle } from './lifecycle.ts';
export { createPolicyMetrics } from './metrics.ts';
