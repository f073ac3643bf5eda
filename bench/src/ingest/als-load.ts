/**
 * The ingest benchmark's load generator, in a worker thread so that encoding gRPC messages does
 * not run on the ingest service's event loop: `streams` ALS client streams, as Envoy sidecars
 * open them, each sending `messages` StreamAccessLogsMessages of `batch` HTTP entries, with
 * gRPC flow control (a full stream waits for `drain`). Loads and connects first and posts
 * `{ ready: true }`, as sidecars are up before their traffic; sends on `'go'` and posts `{ sent }`
 * when every stream ended.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ChannelCredentials, ClientWritableStream } from '@grpc/grpc-js';
import { credentials } from '@grpc/grpc-js';
import { loadAccessLogService } from '@warden/envoy';
import type { SenderTls } from '../ingest.ts';

type Load = {
  port: number;
  streams: number;
  messages: number;
  batch: number;
  edges: number;
  /** Set: each stream sends over mTLS with the SVID of its own workload. */
  tls?: SenderTls;
};
const load = workerData as Load;
const { Client } = loadAccessLogService();

const entry = (i: number, now: number) => ({
  common_properties: {
    start_time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 },
    duration: { seconds: 0, nanos: 3_000_000 + (i % 50) * 100_000 },
    downstream_remote_address: {
      socket_address: { address: `10.1.0.${i % 200}`, port_value: 40_000 + (i % 1000) },
    },
    tls_properties: {
      peer_certificate_properties: {
        subject_alt_name: [{ uri: `spiffe://cluster.local/ns/web/sa/caller-${i % load.edges}` }],
      },
    },
  },
  request: { request_method: 'GET', path: `/api/items/${i % 100}`, request_headers_bytes: 300 },
  response: { response_code: { value: i % 97 === 0 ? 503 : 200 }, response_body_bytes: 1200 },
});

type AlsClient = {
  StreamAccessLogs(cb: (err: Error | null) => void): ClientWritableStream<unknown>;
  waitForReady(deadline: number, cb: (err: Error | undefined) => void): void;
  close(): void;
};

/** Stream `index`'s channel: plaintext, or its workload's SVID with the ingest's SPIFFE ID checked. */
function channel(index: number): ChannelCredentials {
  const tls = load.tls;
  const svid = tls?.svids[index];
  if (!tls || !svid) return credentials.createInsecure();
  return credentials.createSsl(
    Buffer.from(tls.rootsPem),
    Buffer.from(svid.keyPem),
    Buffer.from(svid.chainPem),
    {
      checkServerIdentity: (_host, cert) =>
        cert.subjectaltname === `URI:${tls.serverId}`
          ? undefined
          : new Error(`server is ${cert.subjectaltname}`),
    },
  );
}

async function connected(index: number): Promise<AlsClient> {
  const client = new Client(`127.0.0.1:${load.port}`, channel(index)) as unknown as AlsClient;
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())),
  );
  return client;
}

async function oneStream(client: AlsClient, index: number): Promise<number> {
  let sent = 0;
  await new Promise<void>((resolve, reject) => {
    const call = client.StreamAccessLogs((err) => (err ? reject(err) : resolve()));
    const node = {
      id: `sidecar~10.0.0.${index}~shop-${index}.shop~shop.svc.cluster.local`,
      metadata: {
        fields: { NAMESPACE: { stringValue: 'shop' }, WORKLOAD_NAME: { stringValue: `backend-${index}` } },
      },
    };
    let m = 0;
    const pump = (): void => {
      while (m < load.messages) {
        const now = Date.now();
        const message = {
          ...(m === 0 ? { identifier: { node, log_name: 'bench' } } : {}),
          http_logs: {
            log_entry: Array.from({ length: load.batch }, (_, i) => entry(m * load.batch + i, now)),
          },
        };
        m++;
        sent += load.batch;
        if (!call.write(message)) {
          call.once('drain', pump);
          return;
        }
      }
      call.end();
    };
    pump();
  });
  client.close();
  return sent;
}

const clients = await Promise.all(Array.from({ length: load.streams }, (_, i) => connected(i)));
parentPort?.postMessage({ ready: true });
await new Promise<void>((resolve) => parentPort?.once('message', () => resolve()));
const counts = await Promise.all(clients.map((client, i) => oneStream(client, i)));
parentPort?.postMessage({ sent: counts.reduce((a, b) => a + b, 0) });
