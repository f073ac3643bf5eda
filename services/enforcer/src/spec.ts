import type { ServiceSpec } from '@warden/runtime';
import { enforcerConfig } from './config.ts';
import { startEnforcer } from './service.ts';

/**
 * The enforcer as `runService`/`main` take it: today the ext_authz decision point; ADS,
 * containment and the HAProxy bridge arrive with the rest of its issue.
 */
export const enforcerService: ServiceSpec<typeof enforcerConfig> = {
  name: 'enforcer',
  config: enforcerConfig,
  start: async (ctx) =>
    startEnforcer({
      nc: ctx.nc,
      bus: ctx.bus,
      log: ctx.log,
      registry: ctx.registry,
      instance: ctx.instance,
      config: ctx.config,
    }),
};
