import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import { loadSds, SECRET_TYPE_URL } from '@warden/envoy';
import { verifyChain } from '@warden/pki';
import { spiffe, TRUST_DOMAIN, useAgents, waitFor } from './helpers.ts';
import { chainOf, SdsClient } from './sds-client.ts';

const serialOf = (chain: string | undefined): string | undefined =>
  chain ? new X509Certificate(chain).serialNumber.toLowerCase().replace(/^0+/, '') : undefined;

describe('agent: Envoy SDS on a Unix socket', () => {
  const { running, stopAll, startCa, startAgent, homeWith } = useAgents();
  const id = spiffe('shop', 'web');

  /** The CA, and an agent serving shop/web, enrolled by a join token, with `extra` settings. */
  async function webOnHostA(extra: NodeJS.ProcessEnv = {}) {
    running.push(await startCa());
    const home = await homeWith(id);
    running.push(await startAgent(home, 'host-a', extra));
    return home;
  }

  it('serves default and ROOTCA, and pushes the rotated certificate on the same stream', async () => {
    const clients: SdsClient[] = [];
    try {
      const home = await webOnHostA({ WARDEN_AGENT_SVID_TTL_SECONDS: '4' });

      const client = new SdsClient(home.socket, 'shop.web', ['default', 'ROOTCA']);
      clients.push(client);
      await waitFor('default and ROOTCA', () => client.latest('default') && client.latest('ROOTCA'));
      const first = client.latest('default');
      const roots = client.latest('ROOTCA')?.validation_context?.trusted_ca?.inline_bytes?.toString();
      assert.equal(first?.type, 'tls_certificate');
      assert.ok(roots);
      const chain = chainOf(first);
      const key = first?.tls_certificate?.private_key?.inline_bytes?.toString();
      assert.ok(chain && key);
      // A usable pair, chaining to the served bundle, naming the workload.
      createSecureContext({ cert: chain, key });
      assert.equal(verifyChain({ chain, roots, trustDomain: TRUST_DOMAIN }).spiffeId.uri, id);

      const firstSerial = serialOf(chain);
      await waitFor('a rotated certificate on the open stream', () => {
        const latest = serialOf(chainOf(client.latest('default')));
        return latest && latest !== firstSerial;
      });
      assert.deepEqual(client.errors, [], 'the stream never broke: no reconnect');
      const versions = client.received.map((r) => r.version);
      assert.equal(new Set(versions).size, versions.length, 'each push is a new version');
      // ROOTCA rides along unchanged.
      assert.equal(client.latest('ROOTCA')?.validation_context?.trusted_ca?.inline_bytes?.toString(), roots);

      // Istio's Envoy opens one stream per resource; each gets just its own.
      const rootsOnly = new SdsClient(home.socket, 'shop.web', ['ROOTCA']);
      clients.push(rootsOnly);
      await waitFor('ROOTCA alone', () => rootsOnly.received.length > 0);
      assert.deepEqual(
        rootsOnly.received[0]?.secrets.map((s) => s.name),
        ['ROOTCA'],
      );
    } finally {
      for (const c of clients) c.close();
      await stopAll();
    }
  });

  it('refuses malformed requests with a status, and keeps serving', async () => {
    const clients: SdsClient[] = [];
    try {
      const home = await webOnHostA();

      const sds = loadSds();
      const raw = new sds.Client(`unix:${home.socket}`, credentials.createInsecure());
      const fetch = (request: object): Promise<unknown> =>
        new Promise((resolve, reject) =>
          (
            raw['FetchSecrets'] as (r: object, cb: (err: ServiceError | null, res: unknown) => void) => void
          ).call(raw, request, (err, res) => (err ? reject(err) : resolve(res))),
        );
      await assert.rejects(
        fetch({
          type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
          resource_names: ['default'],
        }),
        { code: 3 },
      );
      await assert.rejects(
        fetch({ type_url: SECRET_TYPE_URL, resource_names: Array.from({ length: 100 }, (_, i) => `n${i}`) }),
        { code: 3 },
      );
      await assert.rejects(fetch({ type_url: SECRET_TYPE_URL, resource_names: ['x'.repeat(300)] }), {
        code: 3,
      });
      await waitFor('a certificate to serve', async () =>
        fetch({ type_url: SECRET_TYPE_URL, resource_names: ['default'] }).catch(() => null),
      );
      // A stream asking for another resource type is ended with INVALID_ARGUMENT; others go on.
      const stream = (raw['StreamSecrets'] as () => ClientDuplexStream<object, unknown>).call(raw);
      const ended = new Promise<{ code?: number }>((resolve) => stream.on('error', resolve));
      stream.on('data', () => undefined);
      stream.write({
        type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener',
        resource_names: ['default'],
      });
      assert.equal((await ended).code, 3);
      raw.close();

      const good = new SdsClient(home.socket, 'shop.web', ['default']);
      clients.push(good);
      await waitFor('default on a new stream', () => good.latest('default'));
      assert.deepEqual(good.errors, []);
    } finally {
      for (const c of clients) c.close();
      await stopAll();
    }
  });
});
