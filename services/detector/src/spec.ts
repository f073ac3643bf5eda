import type { ServiceSpec } from '@warden/runtime';
import { detectorConfig } from './config.ts';
import { startDetector } from './service.ts';

/** The detector as `runService`/`main` take it (main.ts runs it; tests boot it too). */
export const detectorService: ServiceSpec<typeof detectorConfig> = {
  name: 'detector',
  config: detectorConfig,
  start: async (ctx) =>
    startDetector({
      bus: ctx.bus,
      nc: ctx.nc,
      log: ctx.log,
      metricsRegistry: ctx.registry,
      config: ctx.config,
    }),
};
