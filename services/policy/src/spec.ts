import type { ServiceSpec } from '@warden/runtime';
import { policyConfig } from './config.ts';
import { startPolicy } from './service.ts';

/** The policy service as `runService`/`main` take it (main.ts runs it; tests boot it too). */
export const policyService: ServiceSpec<typeof policyConfig> = {
  name: 'policy',
  config: policyConfig,
  start: async (ctx) =>
    startPolicy({
      nc: ctx.nc,
      bus: ctx.bus,
      log: ctx.log,
      metricsRegistry: ctx.registry,
      config: ctx.config,
    }),
};
