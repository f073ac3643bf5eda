import type { ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { loadAccessLogService } from '@warden/envoy';
import type { AlsMessage, AlsStreamContext, TelemetryReport } from '@warden/telemetry';
import { translateAls, translateReport } from '@warden/telemetry';
import type { IngestMetrics } from './metrics.ts';
import type { Pipeline } from './pipeline.ts';
import { loadTelemetryService } from './telemetry-proto.ts';

export type IngestServer = { readonly port: number; stop(): Promise<void> };

type StreamResponse = {
  accepted_calls: number;
  accepted_counters: number;
  rejected: number;
  first_rejection: string;
};

/**
 * The gRPC side of ingest: Envoy's `AccessLogService/StreamAccessLogs` and Warden's
 * `TelemetryService/StreamTelemetry`, both client streams, on one plaintext listener. A message
 * is translated as it arrives and handed to the pipeline; nothing here blocks on the bus or the
 * database. A stream that fails mid-way loses nothing already received.
 */
export async function startIngestServer(options: {
  host: string;
  port: number;
  maxMessageBytes: number;
  pipeline: Pipeline;
  metrics: IngestMetrics;
  log: { warn(obj: object, msg: string): void };
}): Promise<IngestServer> {
  const { pipeline, metrics, log } = options;
  const server = new Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.max_send_message_length': 64 * 1024,
  });
  server.addService(loadAccessLogService().service, {
    StreamAccessLogs: (call: ServerReadableStream<AlsMessage, object>, callback: sendUnaryData<object>) => {
      metrics.streams.inc({ api: 'als' });
      let context: AlsStreamContext | undefined;
      let ended = false;
      const end = (): void => {
        if (ended) return;
        ended = true;
        metrics.streams.dec({ api: 'als' });
      };
      call.on('data', (message: AlsMessage) => {
        const translated = translateAls(message, context);
        context = translated.context;
        if (translated.skipped > 0)
          metrics.rejected.inc({ source: 'als', reason: 'intermediate_entry' }, translated.skipped);
        pipeline.addRecords(translated.records, 'als');
      });
      call.on('end', () => {
        end();
        callback(null, {});
      });
      call.on('error', (err: unknown) => {
        end();
        log.warn({ err }, 'ALS stream failed');
      });
    },
  });
  server.addService(loadTelemetryService().service, {
    StreamTelemetry: (
      call: ServerReadableStream<TelemetryReport, StreamResponse>,
      callback: sendUnaryData<StreamResponse>,
    ) => {
      metrics.streams.inc({ api: 'stream_telemetry' });
      const response: StreamResponse = {
        accepted_calls: 0,
        accepted_counters: 0,
        rejected: 0,
        first_rejection: '',
      };
      let ended = false;
      const end = (): void => {
        if (ended) return;
        ended = true;
        metrics.streams.dec({ api: 'stream_telemetry' });
      };
      call.on('data', (report: TelemetryReport) => {
        const translated = translateReport(report, Date.now());
        pipeline.addRecords(translated.records, 'stream_telemetry');
        for (const sample of translated.counters) pipeline.addCounters(sample, sample.protocol);
        metrics.counterSamples.inc(translated.counters.length);
        response.accepted_calls += translated.records.length;
        response.accepted_counters += translated.counters.length;
        response.rejected += translated.rejected.length;
        const first = translated.rejected[0];
        if (first) {
          metrics.rejected.inc(
            { source: 'stream_telemetry', reason: 'invalid_item' },
            translated.rejected.length,
          );
          if (!response.first_rejection) response.first_rejection = `${first.item}: ${first.reason}`;
        }
      });
      call.on('end', () => {
        end();
        callback(null, response);
      });
      call.on('error', (err: unknown) => {
        end();
        log.warn({ err }, 'StreamTelemetry stream failed');
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, ServerCredentials.createInsecure(), (err, actual) =>
      err ? reject(err) : resolve(actual),
    );
  });
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        // Senders stream forever (Envoy does): give them a moment to finish, then cut them off.
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
