import type { Bus, RunningConsumer } from '@warden/events';
import { telemetryDecision } from '@warden/events';
import { ConfigError } from '@warden/runtime';
import { FeatureWindows, SeriesCounters } from '@warden/telemetry';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { IngestConfig } from './config.ts';
import { listenerProblems } from './config.ts';
import { FeaturePublisher } from './features.ts';
import type { IngestServer } from './grpc-server.ts';
import { startIngestServer } from './grpc-server.ts';
import { createIngestMetrics } from './metrics.ts';
import { Outbox } from './outbox.ts';
import { Pipeline } from './pipeline.ts';
import { RecordBatcher } from './records.ts';
import { SeriesWriter } from './series-writer.ts';

type Log = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

export type IngestDeps = {
  bus: Bus;
  log: Log;
  metricsRegistry: MetricsRegistry;
  config: IngestConfig;
  /** Names this instance in its series (`instance` label) and feature event ids. */
  instance: string;
};

export type RunningIngest = {
  readonly grpcPort: number;
  readonly pipeline: Pipeline;
  readonly writer: SeriesWriter;
  stop(): Promise<void>;
};

/** How many publish failures in a row are logged before they are only counted. */
const ERROR_LOG_EVERY = 1000;

/**
 * Wires telemetry-ingest: the gRPC listener (ALS and StreamTelemetry) and the enforcer's decision
 * records in; access records and features onto the bus, counters into the time-series database.
 */
export async function startIngest(deps: IngestDeps): Promise<RunningIngest> {
  const { bus, log, config } = deps;
  const exposed = listenerProblems(config);
  if (exposed.length > 0) throw new ConfigError('telemetry-ingest', exposed);
  const metrics = createIngestMetrics(deps.metricsRegistry);
  let publishErrors = 0;
  const onError = (err: unknown): void => {
    if (publishErrors++ % ERROR_LOG_EVERY === 0)
      log.error({ err, failures: publishErrors }, 'telemetry publish failed');
  };
  const recordOutbox = new Outbox({
    concurrency: config.WARDEN_INGEST_PUBLISH_CONCURRENCY,
    capacity: config.WARDEN_INGEST_RECORD_BUFFER,
  });
  const featureOutbox = new Outbox({
    concurrency: config.WARDEN_INGEST_PUBLISH_CONCURRENCY,
    capacity: config.WARDEN_INGEST_FEATURE_BUFFER,
  });
  const windows = new FeatureWindows({
    graceMs: config.WARDEN_INGEST_FEATURE_GRACE_MS,
    maxOpen: config.WARDEN_INGEST_FEATURE_MAX_OPEN,
  });
  const series = new SeriesCounters({ instance: deps.instance, maxSeries: config.WARDEN_INGEST_MAX_SERIES });
  const batcher = new RecordBatcher({
    bus,
    outbox: recordOutbox,
    metrics,
    flushMs: config.WARDEN_INGEST_RECORD_FLUSH_MS,
    perEvent: config.WARDEN_INGEST_RECORDS_PER_EVENT,
    onError,
  });
  const pipeline = new Pipeline({ windows, series, batcher, metrics });
  const features = new FeaturePublisher({
    windows,
    bus,
    outbox: featureOutbox,
    metrics,
    instance: deps.instance,
    onError,
  });
  const writer = new SeriesWriter({
    url: config.WARDEN_VICTORIA_METRICS_URL,
    series,
    metrics,
    log,
    intervalMs: config.WARDEN_INGEST_SERIES_INTERVAL_MS,
    bufferLines: config.WARDEN_INGEST_SERIES_BUFFER_LINES,
    batchLines: config.WARDEN_INGEST_SERIES_BATCH_LINES,
  });

  let server: IngestServer | undefined;
  let decisions: RunningConsumer | undefined;
  const stop = async (): Promise<void> => {
    await server?.stop();
    await decisions?.stop();
    batcher.flush();
    features.stop();
    await Promise.all([recordOutbox.drained(), featureOutbox.drained()]);
    await writer.stop();
  };
  try {
    writer.start();
    features.start();
    // Only new decisions: the deny counts describe the present, and a restart must not replay a day.
    decisions = await bus.consume(
      telemetryDecision,
      (event) => {
        const decided = event.data.records.filter((r) => r.decision !== undefined);
        const skipped = event.data.records.length - decided.length;
        if (skipped > 0) metrics.rejected.inc({ source: 'decision', reason: 'not_a_decision' }, skipped);
        pipeline.addRecords(decided, 'decision');
      },
      { durable: 'telemetry-ingest-decisions', deliver: 'new' },
    );
    server = await startIngestServer({
      host: config.WARDEN_INGEST_GRPC_HOST,
      port: config.WARDEN_INGEST_GRPC_PORT,
      maxMessageBytes: config.WARDEN_INGEST_GRPC_MAX_MESSAGE_BYTES,
      ...(config.WARDEN_INGEST_TLS_DIR
        ? {
            tls: {
              dir: config.WARDEN_INGEST_TLS_DIR,
              refreshMs: config.WARDEN_INGEST_TLS_REFRESH_MS,
              trustDomain: config.WARDEN_TRUST_DOMAIN,
              binding: config.WARDEN_INGEST_REPORTER_BINDING,
            },
          }
        : {}),
      pipeline,
      metrics,
      log,
    });
    log.info(
      {
        grpc: `${config.WARDEN_INGEST_GRPC_HOST}:${server.port}`,
        mtls: config.WARDEN_INGEST_TLS_DIR !== undefined,
        ...(config.WARDEN_INGEST_TLS_DIR ? { reporterBinding: config.WARDEN_INGEST_REPORTER_BINDING } : {}),
      },
      'telemetry ingest listening (ALS, StreamTelemetry)',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const grpcPort = server.port;
  return { grpcPort, pipeline, writer, stop };
}
