import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metric, servedSerial, spiffe, useAgents, waitFor, workloadDir } from './helpers.ts';
import { foreignIdentity, mtlsRequest, startMtlsServer } from './tls-peers.ts';

describe('agent: mTLS with agent-written files', () => {
  const { running, stopAll, startCa, startAgent, homeWith } = useAgents();

  /** A CA and two hosts, each with one workload bootstrapped by a join token from its entries file. */
  async function twoHosts(extra: NodeJS.ProcessEnv = {}) {
    running.push(await startCa());
    const workload = async (id: string) => ({ id, home: await homeWith(id) });
    const web = await workload(spiffe('shop', 'web'));
    const api = await workload(spiffe('shop', 'api'));
    const agentA = await startAgent(web.home, 'host-a', extra);
    running.push(agentA);
    const agentB = await startAgent(api.home, 'host-b', extra);
    running.push(agentB);
    await waitFor(
      'both SVIDs on disk',
      () => servedSerial(web.home, 'shop.web') && servedSerial(api.home, 'shop.api'),
    );
    return {
      web,
      api,
      agentA,
      agentB,
      webDir: workloadDir(web.home, 'shop.web'),
      apiDir: workloadDir(api.home, 'shop.api'),
    };
  }

  it('two TLS 1.3 endpoints complete mTLS and each sees the other SPIFFE ID', async () => {
    try {
      const { web, api, webDir, apiDir } = await twoHosts();
      const server = await startMtlsServer(apiDir);
      try {
        const result = await mtlsRequest(webDir, server.port, api.id);
        assert.equal(result.protocol, 'TLSv1.3');
        assert.equal(result.serverId, api.id, 'the client sees the server SPIFFE ID');
        assert.equal(result.echoedClientId, web.id, 'the server sees the client SPIFFE ID');
        assert.deepEqual(server.peers, [web.id]);
        // The client refuses a server that is not who it expects.
        await assert.rejects(mtlsRequest(webDir, server.port, spiffe('shop', 'other')));
        // The server refuses a client whose SVID comes from another trust domain's CA.
        const foreignDir = await foreignIdentity('spiffe://evil.example/ns/shop/sa/web', apiDir);
        await assert.rejects(mtlsRequest(foreignDir, server.port, api.id));
        assert.deepEqual(server.peers, [web.id], 'no foreign client got through');
      } finally {
        await server.close();
      }
    } finally {
      await stopAll();
    }
  });

  it('rotation under load: a stream of requests across three rotations, zero failures', async (t) => {
    try {
      // A 4 s SVID rotates about every 2 s on both sides.
      const { web, api, agentA, agentB, webDir, apiDir } = await twoHosts({
        WARDEN_AGENT_SVID_TTL_SECONDS: '4',
      });
      const server = await startMtlsServer(apiDir, { reloadMs: 20 });
      const clientSerials = new Set<string>();
      const serverSerials = new Set<string>();
      let ok = 0;
      const failures: string[] = [];
      const sample = (): void => {
        const c = servedSerial(web.home, 'shop.web');
        const s = servedSerial(api.home, 'shop.api');
        if (c) clientSerials.add(c);
        if (s) serverSerials.add(s);
      };
      sample();
      try {
        const rotations = async () =>
          Math.min(
            await metric(agentA, 'warden_agent_rotations_total', 'kind="renewal"'),
            await metric(agentB, 'warden_agent_rotations_total', 'kind="renewal"'),
          );
        while ((await rotations()) < 3) {
          try {
            const result = await mtlsRequest(webDir, server.port, api.id);
            if (result.echoedClientId !== web.id) failures.push(`server saw ${result.echoedClientId}`);
            else ok++;
          } catch (err) {
            failures.push(err instanceof Error ? err.message : String(err));
          }
          sample();
        }
        // The counter moves as the SVID is taken; its files follow a moment later.
        await waitFor('the third rotation on disk', () => {
          sample();
          return clientSerials.size >= 4 && serverSerials.size >= 4;
        });
        // One more request after the third rotation, on the newest certificates.
        await mtlsRequest(webDir, server.port, api.id);
        ok++;
      } finally {
        await server.close();
      }
      t.diagnostic(
        `${ok} requests, ${failures.length} failed, ${clientSerials.size - 1} client and ${serverSerials.size - 1} server rotations`,
      );
      assert.deepEqual(failures, []);
      assert.ok(ok > 50, `a steady stream of requests (${ok})`);
      assert.ok(clientSerials.size >= 4, `the client rotated three times (${clientSerials.size} serials)`);
      assert.ok(serverSerials.size >= 4, `the server rotated three times (${serverSerials.size} serials)`);
      assert.equal(await metric(agentA, 'warden_agent_certificates'), 1);
    } finally {
      await stopAll();
    }
  });
});
