import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { credentials } from '@grpc/grpc-js';
import { loadSds, SECRET_TYPE_URL } from '@warden/envoy';
import { createLogger } from '@warden/runtime';
import { testTrustDomain as testAuthority } from '@warden/testing';
import { SdsServer } from './sds-server.ts';
import type { Svid } from './svid.ts';
import { checkSvid } from './svid.ts';

type Wire = { version_info: string; nonce: string; resources: { type_url: string; value: Buffer }[] };

describe('SDS server protocol', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sds-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const log = createLogger({ service: 'agent', instance: 'test', level: 'silent' });

  it('answers once per version: ACKs and NACKs get no reply, stale nonces are ignored, changes are pushed', async () => {
    const ca = await testAuthority();
    const id = 'spiffe://cluster.local/ns/a/sa/b';
    const issue = async (): Promise<Svid> =>
      checkSvid({ spiffeId: id, ...(await ca.leaf(id)), bundle: ca.bundle, obtainedAt: new Date() });
    let current: Svid | null = await issue();
    const socket = join(dir, 'sds.sock');
    const server = await SdsServer.start(
      socket,
      { certificateFor: () => current, bundle: () => ca.bundle },
      log,
    );
    const sds = loadSds();
    const client = new sds.Client(`unix:${socket}`, credentials.createInsecure());
    const call = (client['StreamSecrets'] as () => ClientDuplexStream<object, Wire>).call(client);
    const got: Wire[] = [];
    call.on('data', (r: Wire) => got.push(r));
    call.on('error', () => undefined); // the cancel at the end
    try {
      const names = ['ROOTCA', 'default'];
      call.write({ node: { id: 'b' }, resource_names: names, type_url: SECRET_TYPE_URL });
      while (got.length < 1) await sleep(5);
      const first = got[0];
      assert.ok(first);
      assert.deepEqual(first.resources.map((r) => sds.unpackSecret(r).name).sort(), names);
      // ACK, NACK and a stale nonce: no new response.
      call.write({
        version_info: first.version_info,
        response_nonce: first.nonce,
        resource_names: names,
        type_url: SECRET_TYPE_URL,
      });
      call.write({
        response_nonce: first.nonce,
        resource_names: names,
        error_detail: { code: 3, message: 'bad key' },
      });
      call.write({ response_nonce: 'old', resource_names: ['default'] });
      await sleep(100);
      assert.equal(got.length, 1);

      current = await issue();
      server.notify();
      while (got.length < 2) await sleep(5);
      assert.notEqual(got[1]?.version_info, first.version_info);
      server.notify(); // nothing changed: nothing sent
      current = null;
      server.notify();
      while (got.length < 3) await sleep(5);
      assert.deepEqual(
        got[2]?.resources.map((r) => sds.unpackSecret(r).name),
        ['ROOTCA'],
      );
      assert.equal(got.length, 3);
    } finally {
      call.cancel();
      client.close();
      await server.stop();
    }
  });
});
