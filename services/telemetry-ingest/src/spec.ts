import type { ServiceSpec } from '@warden/runtime';
import { ingestConfig } from './config.ts';
import { startIngest } from './service.ts';

/** telemetry-ingest as `runService`/`main` take it (main.ts runs it; tests boot it too). */
export const telemetryIngestService: ServiceSpec<typeof ingestConfig> = {
  name: 'telemetry-ingest',
  config: ingestConfig,
  start: async (ctx) =>
    startIngest({
      bus: ctx.bus,
      log: ctx.log,
      metricsRegistry: ctx.registry,
      config: ctx.config,
      instance: ctx.instance,
    }),
};
