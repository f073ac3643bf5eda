import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChannelCredentials, ClientWritableStream } from '@grpc/grpc-js';
import { credentials } from '@grpc/grpc-js';
import { freePort } from '@warden/infra';
import type { RunningService } from '@warden/runtime';
import { runService } from '@warden/runtime';
import type { TestLeaf, TestTrustDomain } from '@warden/testing';
import {
  eventually,
  tempDir,
  testTrustDomain,
  useNats,
  useVictoriaMetrics,
  writeAgentFiles,
} from '@warden/testing';
import { loadAccessLogService } from '@warden/envoy';
import { telemetryIngestService } from '@warden/telemetry-ingest';
import {
  httpEntry,
  ingestEnv,
  istioNode,
  metricValue,
  sendAls,
  sendTelemetry,
  storedTelemetry,
} from './helpers.ts';

const INGEST_ID = 'spiffe://cluster.local/ns/warden/sa/warden-telemetry-ingest';

/** A sender's channel: its SVID, and the ingest's SPIFFE ID checked instead of a host name. */
const svidChannel = (roots: string, leaf?: TestLeaf): ChannelCredentials =>
  credentials.createSsl(
    Buffer.from(roots),
    leaf ? Buffer.from(leaf.keyPem) : null,
    leaf ? Buffer.from(leaf.chainPem.join('')) : null,
    {
      checkServerIdentity: (_host, cert) =>
        cert.subjectaltname === `URI:${INGEST_ID}`
          ? undefined
          : new Error(`server is ${cert.subjectaltname}`),
    },
  );

const inbound = (from: string, count: number, now: number): unknown[] =>
  Array.from({ length: count }, (_, i) => httpEntry(from, 200, now + i));

describe('telemetry-ingest over mTLS: every sender shows an SVID and reports only its own calls', () => {
  const nats = useNats();
  const vm = useVictoriaMetrics();
  const dir = tempDir('ingest-mtls');
  after(() => rmSync(dir, { recursive: true, force: true }));
  let td: TestTrustDomain;
  let tlsDir: string;
  let ingest: RunningService | undefined;
  afterEach(async () => {
    await ingest?.stop('test done');
    ingest = undefined;
  });

  /** The service's SVID files, as the agent writes them, in a folder of their own. */
  const svidFolder = async (name: string): Promise<string> => {
    const folder = join(dir, name);
    await writeAgentFiles(td, INGEST_ID, folder);
    return folder;
  };

  before(async () => {
    td = await testTrustDomain('cluster.local');
    tlsDir = await svidFolder('svid');
  });

  const start = async (grpcPort: number, extra: NodeJS.ProcessEnv = {}): Promise<RunningService> => {
    ingest = await runService(
      telemetryIngestService,
      ingestEnv(nats.get(), vm.get().url, grpcPort, { WARDEN_INGEST_TLS_DIR: tlsDir, ...extra }),
    );
    return ingest;
  };

  it("keeps what a workload reports of its own calls, and refuses what it claims of another's", async () => {
    const grpcPort = await freePort();
    const service = await start(grpcPort);
    const cart = svidChannel(td.rootPem, await td.leaf('spiffe://cluster.local/ns/shop/sa/cart'));
    const now = Date.now();
    // cart's sidecar logs 6 calls it received: kept.
    await sendAls(
      grpcPort,
      [
        {
          identifier: { node: istioNode('shop', 'cart') },
          http_logs: { log_entry: inbound('web/sa/frontend', 6, now) },
        },
      ],
      cart,
    );
    // The same SVID posing as payments' sidecar, and as a node of another namespace: refused.
    await sendAls(
      grpcPort,
      [
        {
          identifier: { node: istioNode('shop', 'payments') },
          http_logs: { log_entry: inbound('web/sa/frontend', 4, now) },
        },
      ],
      cart,
    );
    await sendAls(
      grpcPort,
      [
        {
          identifier: { node: istioNode('pay', 'cart') },
          http_logs: { log_entry: inbound('web/sa/frontend', 3, now) },
        },
      ],
      cart,
    );
    // StreamTelemetry: a report as payments is refused with the reason; one as cart is kept.
    const call = {
      start_unix_ms: now,
      direction: 'OUTBOUND',
      peer: { namespace: 'pay', workload: 'ledger' },
      protocol: 'http',
      status: 401,
    };
    const posing = (await sendTelemetry(
      grpcPort,
      [{ reporter: { namespace: 'shop', workload: 'payments' }, calls: [call, call] }],
      cart,
    )) as {
      accepted_calls: string;
      rejected: string;
      first_rejection: string;
    };
    assert.equal(Number(posing.accepted_calls), 0);
    assert.equal(Number(posing.rejected), 2);
    assert.match(
      posing.first_rejection,
      /spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart reports only calls its own workload \(shop\/cart\)/,
    );
    const own = (await sendTelemetry(
      grpcPort,
      [{ reporter: { namespace: 'shop', workload: 'cart' }, calls: [call] }],
      cart,
    )) as {
      accepted_calls: string;
      rejected: string;
    };
    assert.deepEqual([Number(own.accepted_calls), Number(own.rejected)], [1, 0]);

    const stored = await eventually(async () => {
      const s = await storedTelemetry(nats.get());
      const records = s.access.flatMap((a) => a.data.records);
      return records.length >= 7 ? records : undefined;
    }, 'the kept records on the bus');
    assert.equal(stored.length, 7, 'only cart’s own calls');
    for (const record of stored) {
      const reporterSide = record.source.namespace === 'shop' ? record.source : record.destination;
      assert.deepEqual([reporterSide.namespace, reporterSide.workload], ['shop', 'cart']);
    }
    assert.equal(
      await metricValue(service.httpPort, 'warden_ingest_rejected_total', {
        source: 'als',
        reason: 'not_the_reporter',
      }),
      7,
    );
    assert.equal(
      await metricValue(service.httpPort, 'warden_ingest_rejected_total', {
        source: 'stream_telemetry',
        reason: 'not_the_reporter',
      }),
      2,
    );
  });

  it('refuses a sender without a certificate, with another CA’s, with another trust domain’s SPIFFE ID, or in plaintext', async () => {
    const grpcPort = await freePort();
    const service = await start(grpcPort);
    const message = [
      {
        identifier: { node: istioNode('shop', 'cart') },
        http_logs: { log_entry: inbound('web/sa/frontend', 1, Date.now()) },
      },
    ];
    const other = await testTrustDomain('cluster.local');
    const attempts: [string, ChannelCredentials][] = [
      ['plaintext', credentials.createInsecure()],
      ['no client certificate', svidChannel(td.rootPem)],
      [
        'another CA of the same name',
        svidChannel(td.rootPem, await other.leaf('spiffe://cluster.local/ns/shop/sa/cart')),
      ],
    ];
    for (const [what, creds] of attempts) await assert.rejects(sendAls(grpcPort, message, creds), what);
    // Chains to the bundle but names another trust domain: the TLS handshake passes, the call does not.
    const foreign = svidChannel(td.rootPem, await td.leaf('spiffe://evil.example/ns/shop/sa/cart'));
    await assert.rejects(
      sendAls(grpcPort, message, foreign),
      /UNAUTHENTICATED.*not of this trust domain \(cluster\.local\)/,
    );
    await assert.rejects(
      sendTelemetry(grpcPort, [{ reporter: { namespace: 'shop', workload: 'cart' } }], foreign),
      /UNAUTHENTICATED/,
    );
    assert.equal(
      await metricValue(service.httpPort, 'warden_ingest_rejected_total', { reason: 'unauthenticated' }),
      2,
    );
    // Nothing any of them sent was stored: once a genuine sender's record is on the bus (a
    // barrier: what came before it has been handled), it is the only one.
    const cart = svidChannel(td.rootPem, await td.leaf('spiffe://cluster.local/ns/shop/sa/cart'));
    await sendAls(grpcPort, message, cart);
    const records = await eventually(async () => {
      const all = (await storedTelemetry(nats.get())).access.flatMap((a) => a.data.records);
      return all.length > 0 ? all : undefined;
    }, 'the genuine record');
    assert.equal(records.length, 1);
  });

  it('will not listen beyond loopback without mTLS, nor start with unreadable SVID files', async () => {
    const grpcPort = await freePort();
    await assert.rejects(
      runService(
        telemetryIngestService,
        ingestEnv(nats.get(), vm.get().url, grpcPort, { WARDEN_INGEST_GRPC_HOST: '0.0.0.0' }),
      ),
      /WARDEN_INGEST_GRPC_HOST="0\.0\.0\.0": not a loopback address, so WARDEN_INGEST_TLS_DIR must be set/,
    );
    await assert.rejects(
      runService(
        telemetryIngestService,
        ingestEnv(nats.get(), vm.get().url, grpcPort, {
          WARDEN_INGEST_GRPC_HOST: '0.0.0.0',
          WARDEN_INGEST_TLS_DIR: join(dir, 'missing'),
        }),
      ),
      /WARDEN_INGEST_TLS_DIR=".*missing": cannot read .*cert-chain\.pem: ENOENT, .*key\.pem: ENOENT, .*root-cert\.pem: ENOENT/,
    );
    // Nothing was left listening.
    await assert.rejects(sendAls(grpcPort, [], credentials.createInsecure()));
  });

  it('refuses a revoked SVID, and cuts off an open stream once crl.pem lists its certificate', async () => {
    const folder = await svidFolder('svid-revocation');
    const stolen = await td.leaf('spiffe://cluster.local/ns/shop/sa/cart');
    const current = await td.leaf('spiffe://cluster.local/ns/shop/sa/cart');
    writeFileSync(join(folder, 'crl.pem'), await td.crls({ serials: [stolen.certificate.serialNumber] }));
    const grpcPort = await freePort();
    const service = await start(grpcPort, {
      WARDEN_INGEST_TLS_DIR: folder,
      WARDEN_INGEST_TLS_REFRESH_MS: '200',
    });
    const message = (count: number): unknown => ({
      identifier: { node: istioNode('shop', 'cart') },
      http_logs: { log_entry: inbound('web/sa/frontend', count, Date.now()) },
    });
    await assert.rejects(
      sendAls(grpcPort, [message(1)], svidChannel(td.rootPem, stolen)),
      /UNAUTHENTICATED.*the certificate [0-9a-f]+ of spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart is revoked/,
    );

    // The current SVID streams, as Envoy does, without closing.
    const Client = loadAccessLogService().Client;
    const client = new Client(`127.0.0.1:${grpcPort}`, svidChannel(td.rootPem, current)) as InstanceType<
      typeof Client
    > & { StreamAccessLogs(callback: (err: Error | null) => void): ClientWritableStream<unknown> };
    try {
      const ended = new Promise<Error | null>((resolveEnded) => {
        const call = client.StreamAccessLogs((err: Error | null) => resolveEnded(err));
        call.write(message(2));
        void eventually(async () => {
          const records = (await storedTelemetry(nats.get())).access.flatMap((a) => a.data.records);
          return records.length === 2 ? records : undefined;
        }, 'the open stream’s records').then(async () => {
          // Revoked now: the agent writes the CA's new CRLs.
          writeFileSync(
            join(folder, 'crl.pem'),
            await td.crls({ serials: [stolen.certificate.serialNumber, current.certificate.serialNumber] }),
          );
        });
      });
      // Far longer than the 200 ms between reads of crl.pem; a stream left open fails here.
      const err = await Promise.race([ended, sleep(15_000).then(() => new Error('still open after 15 s'))]);
      assert.match(String(err), /UNAUTHENTICATED.*is revoked/);
    } finally {
      client.close();
    }
    assert.equal(
      await metricValue(service.httpPort, 'warden_ingest_rejected_total', { reason: 'revoked' }),
      2,
    );
    assert.equal(await metricValue(service.httpPort, 'warden_ingest_grpc_streams', { api: 'als' }), 0);
  });
});
