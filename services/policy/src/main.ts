import { main } from '@warden/runtime';
import { policyConfig } from './config.ts';
import { startPolicyService } from './service.ts';

main({ name: 'policy', config: policyConfig, start: startPolicyService });
