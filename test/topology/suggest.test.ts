import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '@warden/cli';
import { Bus, provision, StreamName, telemetryAccess } from '@warden/events';
import { seedFile } from '@warden/infra';
import { parseAuthorizationPolicies, PolicyRevision } from '@warden/policy-engine';
import type { AuthzRequest } from '@warden/policy-engine';
import { tempDir, useNats, useRedis } from '@warden/testing';
import type { AccessRecord } from '@warden/topology';
import { eventually, query, startTopologyService, topologyEnv } from './helpers.ts';

const staticFile = `workloads:
  - { namespace: web, name: frontend, address: 10.0.0.2, port: 8080, protocol: http, serviceAccount: frontend, labels: { app: frontend } }
  - { namespace: shop, name: cart, address: 10.0.1.2, port: 8080, protocol: http, serviceAccount: cart, labels: { app: cart } }
  - { namespace: shop, name: payments, address: 10.0.2.2, port: 9090, protocol: grpc, serviceAccount: payments, labels: { app: payments } }
`;
const spiffe = (ns: string, sa: string): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
const frontend = { namespace: 'web', workload: 'frontend' };
const cart = { namespace: 'shop', workload: 'cart' };
const payments = { namespace: 'shop', workload: 'payments' };

/** Normal traffic: the frontend reads and fills carts, the cart authorises payments over gRPC. */
function normalTraffic(base: number): AccessRecord[] {
  const records: AccessRecord[] = [];
  for (let i = 0; i < 200; i++) {
    const time = new Date(base + i * 1000).toISOString();
    records.push({
      time,
      source: frontend,
      destination: cart,
      protocol: 'http',
      method: 'GET',
      path: `/api/cart/${1000 + i}`,
      status: 200,
    });
    if (i % 4 === 0) {
      records.push({
        time,
        source: frontend,
        destination: cart,
        protocol: 'http',
        method: 'POST',
        path: `/api/cart/${1000 + i}/items`,
        status: 201,
      });
      records.push({
        time,
        source: cart,
        destination: payments,
        protocol: 'grpc',
        path: '/payments.v1.Payments/Authorize',
        status: 0,
      });
    }
  }
  return records;
}

function toRequest(record: AccessRecord): AuthzRequest {
  const labels = { cart: { app: 'cart' }, payments: { app: 'payments' }, frontend: { app: 'frontend' } }[
    record.destination.workload as 'cart'
  ];
  const request: AuthzRequest = { destination: { namespace: record.destination.namespace ?? '', labels } };
  if (record.source.namespace && record.source.workload) {
    request.source = { principal: spiffe(record.source.namespace, record.source.workload) };
  }
  request.http = { method: record.method ?? 'POST', path: record.path ?? '/' };
  return request;
}

describe('least-privilege suggestion from the observed graph', () => {
  const nats = useNats();
  const redis = useRedis();

  it('allows every edge of the recorded normal traffic and denies every edge of an injected scan', async () => {
    const file = join(tempDir('topology-suggest'), 'static.yaml');
    writeFileSync(file, staticFile);
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: [StreamName.telemetry] });
    const service = await startTopologyService(
      topologyEnv(nats.get(), redis.get(), { WARDEN_TOPOLOGY_STATIC_FILE: file }),
    );
    try {
      const records = normalTraffic(Date.now() - 30 * 60_000);
      const ingest = new Bus(await nats.get().connect('telemetry-ingest'), { source: 'ingest-test' });
      for (let i = 0; i < records.length; i += 100) {
        await ingest.publish(
          telemetryAccess,
          { records: records.slice(i, i + 100) },
          { qualifiers: { namespace: 'shop', workload: 'cart' } },
        );
      }
      await eventually(
        async () =>
          (
            await query(admin, { what: 'graph', since: new Date(Date.now() - 3_600_000).toISOString() })
          ).edges.reduce((n, e) => n + e.requests, 0) === records.length,
        'every record folded',
        10_000,
      );

      let out = '';
      let err = '';
      const code = await runCli(['policy', 'suggest', '--since', '2h'], {
        io: { out: (t) => (out += t), err: (t) => (err += t) },
        env: { WARDEN_NATS_URL: nats.get().url, WARDEN_NKEY: seedFile(nats.get().credsDir, 'user') },
      });
      assert.equal(code, 0, err);
      assert.match(err, /3 observed edges \(300 requests\).*2 policies; would have denied 0 edges/);
      const { policies, issues } = parseAuthorizationPolicies(out);
      assert.deepEqual(issues, []);
      const revision = new PolicyRevision(policies);

      for (const record of records)
        assert.equal(revision.decide(toRequest(record)).allowed, true, JSON.stringify(record));

      const now = new Date().toISOString();
      const scan: AccessRecord[] = [
        // An unknown identity tries the cart's API.
        {
          time: now,
          source: { namespace: 'web', workload: 'scanner' },
          destination: cart,
          protocol: 'http',
          method: 'GET',
          path: '/api/cart/1',
        },
        // The frontend walks paths and methods it never used.
        ...['/admin', '/.env', '/api/users/1', '/api/cartx', '/debug/pprof'].map((path): AccessRecord => ({
          time: now,
          source: frontend,
          destination: cart,
          protocol: 'http',
          method: 'GET',
          path,
        })),
        {
          time: now,
          source: frontend,
          destination: cart,
          protocol: 'http',
          method: 'DELETE',
          path: '/api/cart/1',
        },
        // The frontend goes straight to payments, and the cart calls a method it never called.
        {
          time: now,
          source: frontend,
          destination: payments,
          protocol: 'grpc',
          path: '/payments.v1.Payments/Authorize',
        },
        {
          time: now,
          source: cart,
          destination: payments,
          protocol: 'grpc',
          path: '/payments.v1.Payments/Refund',
        },
      ];
      for (const record of scan)
        assert.equal(revision.decide(toRequest(record)).allowed, false, JSON.stringify(record));

      // The same graph and registry as a person sees them.
      const show = async (...argv: string[]): Promise<string> => {
        let text = '';
        const status = await runCli(argv, {
          io: { out: (t) => (text += t), err: () => undefined },
          env: { WARDEN_NATS_URL: nats.get().url, WARDEN_NKEY: seedFile(nats.get().credsDir, 'user') },
        });
        assert.equal(status, 0, argv.join(' '));
        return text;
      };
      assert.match(
        await show('topology', 'get'),
        /^shop\/cart\s+10\.0\.1\.2:8080\s+http\s+spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart\s+static$/m,
      );
      const graph = await show('topology', 'graph', '--since', '2h', '-o', 'dot');
      assert.match(graph, /^digraph warden \{/);
      assert.match(graph, /"web\/frontend" -> "shop\/cart" \[label="GET \/api\/cart ×200"\];/);
      assert.match(
        graph,
        /"shop\/cart" -> "shop\/payments" \[label="POST \/payments\.v1\.Payments\/Authorize ×50"\];/,
      );
    } finally {
      await service.stop('test');
    }
  });
});
