export type { IngestConfig } from './config.ts';
export { ingestConfig, listenerProblems } from './config.ts';
export type { IngestDeps, RunningIngest } from './service.ts';
export { startIngest } from './service.ts';
export { telemetryIngestService } from './spec.ts';
export { loadTelemetryService, TELEMETRY_SERVICE } from './telemetry-proto.ts';
