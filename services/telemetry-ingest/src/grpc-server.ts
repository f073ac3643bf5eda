import { join } from 'node:path';
import type { ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { loadAccessLogService } from '@warden/envoy';
import type { AlsMessage, AlsStreamContext, Reporter, TelemetryReport } from '@warden/telemetry';
import { bindToReporter, refusalOf, translateAls, translateReport } from '@warden/telemetry';
import type { IngestMetrics } from './metrics.ts';
import type { Pipeline } from './pipeline.ts';
import { RevokedSerials } from './revocation.ts';
import type { IngestTls, ReporterCheck } from './senders.ts';
import { mtlsCredentials, reporterCheck, revokedReason } from './senders.ts';
import { loadTelemetryService } from './telemetry-proto.ts';

export type IngestServer = { readonly port: number; stop(): Promise<void> };

type Api = 'als' | 'stream_telemetry';

type StreamResponse = {
  accepted_calls: number;
  accepted_counters: number;
  rejected: number;
  first_rejection: string;
};

/**
 * The gRPC side of ingest: Envoy's `AccessLogService/StreamAccessLogs` and Warden's
 * `TelemetryService/StreamTelemetry`, both client streams, on one listener: mTLS with each
 * sender bound to what it may report when `tls` is given, plaintext otherwise. A message is
 * translated as it arrives and handed to the pipeline; nothing here blocks on the bus or the
 * database. A stream that fails mid-way loses nothing already received.
 */
export async function startIngestServer(options: {
  host: string;
  port: number;
  maxMessageBytes: number;
  tls?: IngestTls;
  pipeline: Pipeline;
  metrics: IngestMetrics;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}): Promise<IngestServer> {
  const { pipeline, metrics, log, tls } = options;
  const mtls = tls ? mtlsCredentials(tls) : undefined;
  const credentials = mtls?.credentials ?? ServerCredentials.createInsecure();
  const revoked = tls ? new RevokedSerials(join(tls.dir, 'crl.pem'), log) : undefined;
  revoked?.load();
  /** A sender the listener will not hear: refused before anything it sent is read, or cut off. */
  const refuse = (
    api: Api,
    refusal: { refused: string; why: 'unauthenticated' | 'revoked' },
    answer: (err: object) => void,
  ): void => {
    metrics.rejected.inc({ source: api, reason: refusal.why });
    log.warn({ api, reason: refusal.refused }, 'telemetry sender refused');
    answer({ code: status.UNAUTHENTICATED, details: `telemetry-ingest: ${refusal.refused}` });
  };
  /** Streams open on the mTLS listener, with the serial of the certificate each came with. */
  const live = new Map<symbol, { serial: string; reporter: Reporter; cut: (reason: string) => void }>();
  // Streams live for hours (Envoy keeps its ALS stream open): a certificate revoked meanwhile is
  // cut off once the agent's next crl.pem lists it, not at the sender's next reconnect.
  const sweep =
    tls && revoked
      ? setInterval(() => {
          if (!revoked.refresh()) return;
          for (const stream of live.values())
            if (revoked.has(stream.serial)) stream.cut(revokedReason(stream.serial, stream.reporter));
        }, tls.refreshMs)
      : undefined;
  sweep?.unref();
  /**
   * One client stream's life: counted while open, known to the revocation sweep, answered once
   * (by its end, or by a cut), and deaf to what arrives after that.
   */
  const track = <R>(api: Api, check: ReporterCheck, answer: sendUnaryData<R>) => {
    metrics.streams.inc({ api });
    const key = Symbol(api);
    let open = true;
    const close = (): boolean => {
      if (!open) return false;
      open = false;
      metrics.streams.dec({ api });
      live.delete(key);
      return true;
    };
    if (check && 'reporter' in check)
      live.set(key, {
        serial: check.serial,
        reporter: check.reporter,
        cut: (reason) => {
          if (close()) refuse(api, { refused: reason, why: 'revoked' }, (err) => answer(err));
        },
      });
    return {
      isOpen: (): boolean => open,
      finish: (response: R): void => {
        if (close()) answer(null, response);
      },
      fail: (): void => {
        close();
      },
    };
  };
  const server = new Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.max_send_message_length': 64 * 1024,
  });
  server.addService(loadAccessLogService().service, {
    StreamAccessLogs: (call: ServerReadableStream<AlsMessage, object>, callback: sendUnaryData<object>) => {
      const check = reporterCheck(call, tls, revoked);
      if (check && 'refused' in check) return refuse('als', check, (err) => callback(err));
      const reporter = check?.reporter;
      const stream = track('als', check, callback);
      let refusalLogged = false;
      let context: AlsStreamContext | undefined;
      call.on('data', (message: AlsMessage) => {
        if (!stream.isOpen()) return;
        const translated = translateAls(message, context);
        context = translated.context;
        if (translated.skipped > 0)
          metrics.rejected.inc({ source: 'als', reason: 'intermediate_entry' }, translated.skipped);
        let records = translated.records;
        if (reporter && tls) {
          const bound = bindToReporter(records, reporter, tls.binding);
          records = bound.kept;
          if (bound.refused > 0) {
            metrics.rejected.inc({ source: 'als', reason: 'not_the_reporter' }, bound.refused);
            // Once per stream: a misconfigured sidecar would otherwise log every entry.
            if (!refusalLogged) {
              log.warn({ refused: bound.refused }, refusalOf(reporter, tls.binding));
              refusalLogged = true;
            }
          }
        }
        pipeline.addRecords(records, 'als');
      });
      call.on('end', () => stream.finish({}));
      call.on('error', (err: unknown) => {
        stream.fail();
        log.warn({ err }, 'ALS stream failed');
      });
    },
  });
  server.addService(loadTelemetryService().service, {
    StreamTelemetry: (
      call: ServerReadableStream<TelemetryReport, StreamResponse>,
      callback: sendUnaryData<StreamResponse>,
    ) => {
      const check = reporterCheck(call, tls, revoked);
      if (check && 'refused' in check) return refuse('stream_telemetry', check, (err) => callback(err));
      const reporter = check?.reporter;
      const stream = track('stream_telemetry', check, callback);
      const response: StreamResponse = {
        accepted_calls: 0,
        accepted_counters: 0,
        rejected: 0,
        first_rejection: '',
      };
      call.on('data', (report: TelemetryReport) => {
        if (!stream.isOpen()) return;
        const translated = translateReport(report, Date.now());
        let { records, counters } = translated;
        let refused = 0;
        if (reporter && tls) {
          const boundRecords = bindToReporter(records, reporter, tls.binding);
          const boundCounters = bindToReporter(counters, reporter, tls.binding);
          records = boundRecords.kept;
          counters = boundCounters.kept;
          refused = boundRecords.refused + boundCounters.refused;
          if (refused > 0) {
            metrics.rejected.inc({ source: 'stream_telemetry', reason: 'not_the_reporter' }, refused);
            if (!response.first_rejection) response.first_rejection = refusalOf(reporter, tls.binding);
          }
        }
        pipeline.addRecords(records, 'stream_telemetry');
        for (const sample of counters) pipeline.addCounters(sample, sample.protocol);
        metrics.counterSamples.inc(counters.length);
        response.accepted_calls += records.length;
        response.accepted_counters += counters.length;
        response.rejected += translated.rejected.length + refused;
        const first = translated.rejected[0];
        if (first) {
          metrics.rejected.inc(
            { source: 'stream_telemetry', reason: 'invalid_item' },
            translated.rejected.length,
          );
          if (!response.first_rejection) response.first_rejection = `${first.item}: ${first.reason}`;
        }
      });
      call.on('end', () => stream.finish(response));
      call.on('error', (err: unknown) => {
        stream.fail();
        log.warn({ err }, 'StreamTelemetry stream failed');
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, credentials, (err, actual) =>
      err ? reject(err) : resolve(actual),
    );
  });
  try {
    await mtls?.loaded();
  } catch (err) {
    clearInterval(sweep);
    server.forceShutdown();
    throw err;
  }
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweep);
        // Senders stream forever (Envoy does): give them a moment to finish, then cut them off.
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
