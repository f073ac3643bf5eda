import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** telemetry-ingest's own metrics, registered in the service's registry. */
export type IngestMetrics = ReturnType<typeof createIngestMetrics>;

export function createIngestMetrics(registry: Registry = new Registry()) {
  const registers = [registry];
  return {
    received: new Counter({
      name: 'warden_ingest_records_received_total',
      help: 'Access records received, by source (als, stream_telemetry, decision).',
      labelNames: ['source'] as const,
      registers,
    }),
    rejected: new Counter({
      name: 'warden_ingest_rejected_total',
      help: 'Inputs refused or skipped, by source and reason (intermediate ALS entries, invalid report items, decision records that are allows).',
      labelNames: ['source', 'reason'] as const,
      registers,
    }),
    counterSamples: new Counter({
      name: 'warden_ingest_counter_samples_total',
      help: 'StreamTelemetry counter samples accepted.',
      registers,
    }),
    streams: new Gauge({
      name: 'warden_ingest_grpc_streams',
      help: 'Open gRPC telemetry streams, by API (als, stream_telemetry).',
      labelNames: ['api'] as const,
      registers,
    }),
    recordsPublished: new Counter({
      name: 'warden_ingest_records_published_total',
      help: 'Access records stored on warden.telemetry.v1.access.',
      registers,
    }),
    recordsDropped: new Counter({
      name: 'warden_ingest_records_dropped_total',
      help: 'Access records not stored on the bus, by reason (buffer_full, publish_failed).',
      labelNames: ['reason'] as const,
      registers,
    }),
    recordBuffer: new Gauge({
      name: 'warden_ingest_record_buffer',
      help: 'Access records waiting for the bus.',
      registers,
    }),
    featuresPublished: new Counter({
      name: 'warden_ingest_features_published_total',
      help: 'Feature windows stored on warden.telemetry.v1.features, by scope and window length.',
      labelNames: ['scope', 'window'] as const,
      registers,
    }),
    featuresDropped: new Counter({
      name: 'warden_ingest_features_dropped_total',
      help: 'Feature windows or contributions lost, by reason (late: the window had closed; overflow: too many open windows; buffer_full; publish_failed).',
      labelNames: ['reason'] as const,
      registers,
    }),
    openWindows: new Gauge({
      name: 'warden_ingest_feature_open_windows',
      help: 'Feature accumulators open.',
      registers,
    }),
    series: new Gauge({
      name: 'warden_ingest_series',
      help: 'Live time series (counters written at each interval).',
      registers,
    }),
    seriesOverflow: new Counter({
      name: 'warden_ingest_series_overflow_total',
      help: 'Records not counted in the time series because the series limit was reached.',
      registers,
    }),
    linesWritten: new Counter({
      name: 'warden_ingest_series_lines_written_total',
      help: 'Line-protocol lines the time-series database accepted.',
      registers,
    }),
    linesDropped: new Counter({
      name: 'warden_ingest_series_lines_dropped_total',
      help: 'Line-protocol lines dropped, by reason (buffer_full: the oldest, while the database was away; rejected: the database refused them as invalid).',
      labelNames: ['reason'] as const,
      registers,
    }),
    lineBuffer: new Gauge({
      name: 'warden_ingest_series_buffer_lines',
      help: 'Line-protocol lines waiting for the time-series database.',
      registers,
    }),
    writeFailures: new Counter({
      name: 'warden_ingest_series_write_failures_total',
      help: 'Failed writes to the time-series database (each retried with backoff).',
      registers,
    }),
    writeSeconds: new Histogram({
      name: 'warden_ingest_series_write_seconds',
      help: 'Time to write one batch to the time-series database.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
  };
}
