import type { ServiceSpec } from '@warden/runtime';
import { topologyConfig } from './config.ts';
import { startTopology } from './service.ts';

/** The topology service as `runService`/`main` take it (main.ts runs it; tests boot it too). */
export const topologyService: ServiceSpec<typeof topologyConfig> = {
  name: 'topology',
  config: topologyConfig,
  start: async (ctx) =>
    startTopology({ bus: ctx.bus, log: ctx.log, metricsRegistry: ctx.registry, config: ctx.config }),
};
