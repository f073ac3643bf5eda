import type { ServiceSpec } from '@warden/runtime';
import { agentConfig } from './config.ts';
import { startAgent } from './service.ts';

/** The agent as `runService`/`main` take it (main.ts runs it; tests and benchmarks boot it too). */
export const agentService: ServiceSpec<typeof agentConfig> = {
  name: 'agent',
  config: agentConfig,
  start: async (ctx) =>
    startAgent({
      bus: ctx.bus,
      log: ctx.log,
      metricsRegistry: ctx.registry,
      instance: ctx.instance,
      config: ctx.config,
    }),
};
