export { policyConfig } from './config.ts';
export type { PolicyConfig } from './config.ts';
export { startPolicyService } from './service.ts';
