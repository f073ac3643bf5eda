import type { ChannelCredentials, Client, ClientWritableStream } from '@grpc/grpc-js';
import { credentials } from '@grpc/grpc-js';
import { Bus, onReplay, telemetryAccess, telemetryFeatures } from '@warden/events';
import type { DataOf } from '@warden/events';
import { loadAccessLogService } from '@warden/envoy';
import { seedFile } from '@warden/infra';
import type { TestNats } from '@warden/testing';
import { loadTelemetryService } from '@warden/telemetry-ingest';

export type AccessData = DataOf<typeof telemetryAccess>;
export type FeaturesData = DataOf<typeof telemetryFeatures>;

/** The environment the local stack would give telemetry-ingest, with quick windows and writes. */
export function ingestEnv(
  nats: TestNats,
  vmUrl: string,
  grpcPort: number,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    WARDEN_NATS_URL: nats.url,
    WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'telemetry-ingest'),
    WARDEN_HTTP_PORT: '0',
    WARDEN_LOG_LEVEL: 'silent',
    WARDEN_INSTANCE: 'ingest-test',
    WARDEN_VICTORIA_METRICS_URL: vmUrl,
    WARDEN_INGEST_GRPC_PORT: String(grpcPort),
    WARDEN_INGEST_RECORD_FLUSH_MS: '50',
    WARDEN_INGEST_FEATURE_GRACE_MS: '300',
    WARDEN_INGEST_SERIES_INTERVAL_MS: '250',
    ...extra,
  };
}

/** The environment the local stack would give the detector. */
export const detectorEnv = (nats: TestNats, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  WARDEN_NATS_URL: nats.url,
  WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'detector'),
  WARDEN_HTTP_PORT: '0',
  WARDEN_LOG_LEVEL: 'silent',
  ...extra,
});

type Streaming = Client &
  Record<string, (callback: (err: Error | null, response: unknown) => void) => ClientWritableStream<unknown>>;

/** Sends each message on one client stream, half-closes it and returns the server's answer. */
async function stream(
  Client: new (address: string, creds: ChannelCredentials) => Client,
  method: string,
  port: number,
  messages: readonly unknown[],
  creds: ChannelCredentials = credentials.createInsecure(),
): Promise<unknown> {
  const client = new Client(`127.0.0.1:${port}`, creds) as Streaming;
  try {
    return await new Promise((resolve, reject) => {
      const call = client[method]!((err, response) => (err ? reject(err) : resolve(response)));
      for (const message of messages) call.write(message);
      call.end();
    });
  } finally {
    client.close();
  }
}

/** Plaintext unless `creds` say otherwise (an SVID for the mTLS listener). */
export const sendAls = (
  port: number,
  messages: readonly unknown[],
  creds?: ChannelCredentials,
): Promise<unknown> => stream(loadAccessLogService().Client, 'StreamAccessLogs', port, messages, creds);

export const sendTelemetry = (
  port: number,
  reports: readonly unknown[],
  creds?: ChannelCredentials,
): Promise<unknown> => stream(loadTelemetryService().Client, 'StreamTelemetry', port, reports, creds);

/** An Envoy node as Istio's sidecar names it. */
export const istioNode = (namespace: string, workload: string): unknown => ({
  id: `sidecar~10.0.0.1~${workload}-1.${namespace}~${namespace}.svc.cluster.local`,
  metadata: { fields: { NAMESPACE: { stringValue: namespace }, WORKLOAD_NAME: { stringValue: workload } } },
});

/** One inbound HTTP entry from `from` (a namespace/service account SPIFFE ID) with `status`. */
export const httpEntry = (
  from: string,
  status: number,
  startMs: number,
  extra: Record<string, unknown> = {},
): unknown => ({
  common_properties: {
    start_time: { seconds: Math.floor(startMs / 1000), nanos: (startMs % 1000) * 1e6 },
    duration: { seconds: 0, nanos: 5_000_000 },
    downstream_remote_address: { socket_address: { address: '10.0.0.9', port_value: 40000 } },
    downstream_local_address: { socket_address: { address: '10.0.0.1', port_value: 8080 } },
    tls_properties: {
      peer_certificate_properties: { subject_alt_name: [{ uri: `spiffe://cluster.local/ns/${from}` }] },
    },
    ...extra,
  },
  request: { request_method: 'GET', path: '/items', request_headers_bytes: 100 },
  response: { response_code: { value: status }, response_body_bytes: 1000 },
});

/** Everything stored on WARDEN_TELEMETRY so far, read as the admin. */
export async function storedTelemetry(nats: TestNats): Promise<{
  access: { subject: string; data: AccessData }[];
  features: { subject: string; data: FeaturesData }[];
}> {
  const nc = await nats.connect('admin');
  const bus = new Bus(nc, { source: 'test' });
  const access: { subject: string; data: AccessData }[] = [];
  const features: { subject: string; data: FeaturesData }[] = [];
  await bus.replay([
    onReplay(telemetryAccess, (event, stored) => {
      access.push({ subject: stored.subject, data: event.data });
    }),
    onReplay(telemetryFeatures, (event, stored) => {
      features.push({ subject: stored.subject, data: event.data });
    }),
  ]);
  await nc.close();
  return { access, features };
}

/** A metric's value from a service's /metrics (summed over its label sets matching `labels`). */
export async function metricValue(
  httpPort: number,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** VictoriaMetrics makes fresh samples searchable on its next flush (every 2 s); tests ask now. */
export async function forceFlush(vmUrl: string): Promise<void> {
  const res = await fetch(`${vmUrl}/internal/force_flush`);
  await res.body?.cancel();
}
