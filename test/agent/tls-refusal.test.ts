import assert from 'node:assert/strict';
import { cpSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OutputFile } from '@warden/agent';
import type { ReplyOf } from '@warden/events';
import { Bus, caSign, enforceRevoke } from '@warden/events';
import {
  createCsr,
  exportPrivateKeyPem,
  generateKeyPair,
  inspectCertificate,
  MAX_CRL_BLOCKS,
  parseCrls,
} from '@warden/pki';
import type { TestNats } from '@warden/testing';
import { metric, servedSerial, spiffe, useAgents, waitFor, workloadDir } from './helpers.ts';
import { copyTrust, foreignIdentity, mtlsRequest, startMtlsServer } from './tls-peers.ts';

/** Both endpoints verify with crl.pem too: the CA's CRLs, as the agent keeps them. */
const withCrl = { crl: true } as const;

/** Serials a workload's crl.pem lists, or null while it has none. */
function crlSerials(dir: string): ReadonlySet<string> | null {
  try {
    const text = readFileSync(join(dir, OutputFile.crl), 'utf8');
    const serials = new Set<string>();
    for (const crl of parseCrls(text, 'crl.pem', { maxBytes: 1 << 20, maxBlocks: MAX_CRL_BLOCKS }))
      for (const serial of crl.serials) serials.add(serial);
    return serials;
  } catch {
    return null;
  }
}

/**
 * Files for a certificate of the real trust domain that lives one second: the join token, a CSR
 * and `warden.ca.v1.sign` with `ttlSeconds: 1`, as an agent would ask, with the bundle and CRLs
 * of `trustFrom`. Returns once the certificate has expired.
 */
async function expiredIdentity(
  nats: TestNats,
  spiffeId: string,
  token: string,
  trustFrom: string,
): Promise<string> {
  const bus = new Bus(await nats.connect('agent'), { source: 'test-agent' });
  const keys = await generateKeyPair();
  let reply: ReplyOf<typeof caSign>;
  try {
    reply = await bus.request(caSign, {
      csrPem: await createCsr(keys, spiffeId),
      evidence: { type: 'join-token', token },
      ttlSeconds: 1,
    });
  } finally {
    await bus.nc.close();
  }
  const dir = await mkdtemp(join(tmpdir(), 'warden-expired-'));
  await writeFile(join(dir, OutputFile.chain), reply.chainPem.join(''));
  await writeFile(join(dir, OutputFile.key), await exportPrivateKeyPem(keys.privateKey));
  await copyTrust(trustFrom, dir);
  const { notAfter } = inspectCertificate(reply.chainPem[0] ?? '');
  // X.509 times are whole seconds and OpenSSL compares against them: wait one past notAfter.
  await waitFor('the certificate to expire', () => Date.now() > notAfter.getTime() + 1000, 30_000, 100);
  return dir;
}

describe('agent: TLS peers refuse what they must, from agent-written files alone', () => {
  const { nats, running, stopAll, startCaWithHttp, startAgent, homeWith, joinToken, provisionEnforcement } =
    useAgents();

  it('mTLS with SPIFFE IDs; refuses another trust domain, an expired and a revoked certificate', async (t) => {
    try {
      await provisionEnforcement();
      const ca = await startCaWithHttp();
      running.push(ca.service);
      const withCrlUrl = { WARDEN_AGENT_CRL_URL: `${ca.url}/v1/crl.pem` };

      // Host A runs two clients, web and worker; host B runs the server, api.
      const web = spiffe('shop', 'web');
      const worker = spiffe('shop', 'worker');
      const api = spiffe('shop', 'api');
      const hostA = await homeWith(web, worker);
      const hostB = await homeWith(api);
      running.push(await startAgent(hostA, 'host-a', withCrlUrl));
      const agentB = await startAgent(hostB, 'host-b', withCrlUrl);
      running.push(agentB);
      const webDir = workloadDir(hostA, 'shop.web');
      const workerDir = workloadDir(hostA, 'shop.worker');
      const apiDir = workloadDir(hostB, 'shop.api');
      await waitFor(
        'SVIDs and CRLs on disk for all three',
        () =>
          [webDir, workerDir, apiDir].every((dir) => crlSerials(dir)) &&
          servedSerial(hostA, 'shop.web') &&
          servedSerial(hostA, 'shop.worker') &&
          servedSerial(hostB, 'shop.api'),
      );

      const server = await startMtlsServer(apiDir, { ...withCrl, reloadMs: 0 });
      try {
        const ok = await mtlsRequest(webDir, server.port, api, withCrl);
        assert.equal(ok.protocol, 'TLSv1.3');
        assert.equal(ok.serverId, api, 'the client sees the server SPIFFE ID');
        assert.equal(ok.echoedClientId, web, 'the server sees the client SPIFFE ID');
        assert.equal((await mtlsRequest(workerDir, server.port, api, withCrl)).echoedClientId, worker);
        assert.deepEqual(server.refusals, []);

        // (a) Another trust domain's CA: its intermediate leads to no root the server trusts.
        // node:tls lets OpenSSL verify the whole chain and reports the last failure: after "unable
        // to get local issuer" that is the missing CRL of those unknown issuers. The same files
        // without crl.pem name the first failure, the unknown issuer, alone.
        const foreignDir = await foreignIdentity('spiffe://evil.example/ns/shop/sa/web', apiDir);
        await assert.rejects(mtlsRequest(foreignDir, server.port, api, withCrl));
        await waitFor('the foreign client refused', () => server.refusals.length === 1);
        assert.deepEqual(server.refusals, ['UNABLE_TO_GET_CRL']);
        const withoutCrl = await startMtlsServer(apiDir, { reloadMs: 0 });
        try {
          await assert.rejects(mtlsRequest(foreignDir, withoutCrl.port, api));
          await waitFor('the foreign client refused', () => withoutCrl.refusals.length === 1);
          assert.deepEqual(withoutCrl.refusals, ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);
          assert.deepEqual(withoutCrl.peers, []);
        } finally {
          await withoutCrl.close();
        }

        // (b) The real CA's certificate, past its notAfter.
        const expiredDir = await expiredIdentity(nats.get(), worker, await joinToken(worker), apiDir);
        await assert.rejects(mtlsRequest(expiredDir, server.port, api, withCrl));
        await waitFor('the expired client refused', () => server.refusals.length === 2);
        assert.deepEqual(server.refusals.slice(1), ['CERT_HAS_EXPIRED']);

        // (c) Worker's key and certificate, kept by whoever stole them, then revoked. The agent
        // drops its own copy; the thief's copy must stop working at every peer reading crl.pem.
        const stolenDir = await mkdtemp(join(tmpdir(), 'warden-stolen-'));
        cpSync(workerDir, stolenDir, { recursive: true });
        const revoked = servedSerial(hostA, 'shop.worker');
        assert.ok(revoked);
        const user = new Bus(await nats.get().connect('user'), { source: 'test-user' });
        const revokedAt = Date.now();
        try {
          await user.publish(enforceRevoke, { serial: revoked, reason: 'key stolen in a test' });
        } finally {
          await user.nc.close();
        }
        await waitFor('api crl.pem to list the revoked serial', () => crlSerials(apiDir)?.has(revoked));
        t.diagnostic(`revocation request → crl.pem lists it: ${Date.now() - revokedAt} ms`);
        await server.reload();
        await assert.rejects(mtlsRequest(stolenDir, server.port, api, withCrl));
        await waitFor('the revoked client refused', () => server.refusals.length === 3);
        assert.deepEqual(server.refusals.slice(2), ['CERT_REVOKED']);
        // Everyone else still gets through on the same, reloaded context.
        assert.equal((await mtlsRequest(webDir, server.port, api, withCrl)).echoedClientId, web);
        assert.deepEqual(server.peers, [web, worker, web], 'no refused client got an answer');
        assert.equal(server.refusals.length, 3);
      } finally {
        await server.close();
      }
      assert.ok(
        (await metric(agentB, 'warden_agent_crl_fetches_total')) >= 2,
        'at start and after the event',
      );
      assert.equal(await metric(agentB, 'warden_agent_crl_failures_total'), 0);
    } finally {
      await stopAll();
    }
  });
});
