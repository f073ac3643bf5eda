import type { ServiceSpec } from '@warden/runtime';
import { caConfig } from './config.ts';
import { startCa } from './service.ts';

/** The CA as `runService`/`main` take it (main.ts runs it; tests and benchmarks boot it too). */
export const caService: ServiceSpec<typeof caConfig> = {
  name: 'ca',
  config: caConfig,
  start: async (ctx) =>
    startCa({ bus: ctx.bus, log: ctx.log, metricsRegistry: ctx.registry, config: ctx.config }),
};
