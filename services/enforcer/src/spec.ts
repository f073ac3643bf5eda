import type { ServiceSpec } from '@warden/runtime';

/**
 * Boot-only: the service boots, provisions the streams it writes, audits its own lifecycle and
 * reports ready; its capabilities arrive with the enforcement issue (then a service.ts wires them).
 */
export const enforcerService: ServiceSpec = { name: 'enforcer', start: async () => ({}) };
