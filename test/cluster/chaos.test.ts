/**
 * The chaos test (issue 16, `make test-cluster`): the cluster stack (three NATS nodes at R3,
 * Redis with Sentinels, two replicas of every service) under load while each nats-server is
 * killed in turn, then the Redis primary, then one replica of every service, all with SIGKILL.
 * Afterwards every acknowledged policy revision, SVID and audit record is stored exactly once,
 * revisions are contiguous, no join token was used twice, and every service is ready. The
 * longest pause each kill caused is printed as JSON (a figure, not asserted).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  audit,
  Bus,
  caSign,
  identityIssued,
  policyCommitted,
  servicePrincipals,
  StreamName,
  subjectOf,
} from '@warden/events';
import { createCsr, generateKeyPair } from '@warden/pki';
import { httpOk, redisNodeName, seedFile, sentinelPrimaryPort, waitForJetStreamCluster } from '@warden/infra';
import { ephemeralPorts, Stack } from '@warden/local-stack';
import { connectNats } from '@warden/runtime';
import { tempDir } from '@warden/testing';
import { longestPause, runLoad } from './load.ts';

/** How long the load runs before the first kill, and after a recovery before the next one. */
const SETTLE_MS = 3000;

type Envelope = { id: string; source: string; data: Record<string, unknown> };

/** Every message stored on `subject` in `stream`, parsed, in stream order. */
async function readAll(nc: NatsConnection, stream: string, subject: string): Promise<Envelope[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  const count = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: [subject] });
  const out: Envelope[] = [];
  while (out.length < count) {
    const batch = await consumer.fetch({ max_messages: 500, expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      out.push(m.json<Envelope>());
      got++;
    }
    if (got === 0) break;
  }
  return out;
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await Promise.resolve()
      .then(check)
      .catch(() => false))
  ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('cluster under chaos', () => {
  const dir = tempDir('cluster');
  const connections: NatsConnection[] = [];
  let stack: Stack | undefined;
  let passed = false;
  after(async () => {
    await Promise.all(connections.splice(0).map((nc) => nc.close().catch(() => undefined)));
    await stack?.stop();
    // A failure is explained by the services' logs: they stay.
    if (passed) rmSync(dir, { recursive: true, force: true });
    else process.stdout.write(`chaos test failed: logs kept in ${join(dir, 'logs')}\n`);
  });

  it('loses no acknowledged policy revision, SVID or audit record while nodes, the Redis primary and replicas die', async () => {
    const ports = await ephemeralPorts(3);
    stack = new Stack({ dir, ports, backoff: { initialMs: 100, maxMs: 2000 } });
    await stack.start();
    const running = stack;
    const plan = running.natsCluster;
    const redis = running.redisSet;
    assert.ok(plan && redis, 'the stack runs in cluster mode');

    const open = async (
      identity: 'user' | 'agent' | 'console' | 'detector' | 'admin',
    ): Promise<NatsConnection> => {
      const nc = await connectNats({
        url: running.natsUrl,
        principal: identity,
        instance: `chaos-${identity}`,
        seedFile: seedFile(running.credsDir, identity),
      });
      connections.push(nc);
      return nc;
    };
    const user = new Bus(await open('user'), { source: 'chaos-user' });
    const agent = new Bus(await open('agent'), { source: 'chaos-agent' });
    const auditor = new Bus(await open('console'), { source: 'chaos-load', audit: { principal: 'console' } });
    const detector = new Bus(await open('detector'), { source: 'chaos-detector' });
    const admin = await open('admin');

    // Every stream, bucket and object store is replicated on three nodes.
    const jsm = await jetstreamManager(admin);
    for await (const info of jsm.streams.list()) assert.equal(info.config.num_replicas, 3, info.config.name);

    const stopLoad = new AbortController();
    const load = runLoad({ user, agent, auditor, detector }, stopLoad.signal);
    const kills: { kill: string; from: number; to: number }[] = [];

    // A failed step must not leave the load running, or the test would never end.
    try {
      /**
       * Kills a unit (held down until `heldUntil`, when given) and waits until it is back and
       * `recovered` holds; records the window for the pause figures.
       */
      const killAndRecover = async (
        unitName: string,
        recovered: () => Promise<boolean>,
        heldUntil?: () => Promise<unknown>,
      ): Promise<void> => {
        await sleep(SETTLE_MS);
        const from = Date.now();
        const pid = await running.crash(unitName, heldUntil?.());
        await until(`${unitName} back`, async () => {
          const now = running.status().find((c) => c.name === unitName);
          return now?.state === 'ready' && now.pid !== pid && (await recovered());
        });
        kills.push({ kill: unitName, from, to: Date.now() });
      };

      for (const node of plan.nodes)
        await killAndRecover(node.serverName, async () => {
          await waitForJetStreamCluster(plan, 1000);
          return true;
        });

      const primaryPort = await sentinelPrimaryPort(redis);
      const primaryIndex = redis.redisPorts.findIndex((p) => p === primaryPort);
      assert.ok(primaryIndex >= 0, 'the Sentinels name a primary');
      const promoted = async (): Promise<boolean> => {
        const now = await sentinelPrimaryPort(redis);
        return now !== null && now !== primaryPort;
      };
      // Held down until the Sentinels promote the replica; it comes back as a replica.
      await killAndRecover(redisNodeName(primaryIndex), promoted, () =>
        until('a promoted replica', promoted),
      );

      for (const name of servicePrincipals)
        await killAndRecover(`${name}-1`, () => httpOk(`http://127.0.0.1:${ports.services[name]}/readyz`));

      await sleep(SETTLE_MS);
    } finally {
      stopLoad.abort();
    }
    const acked = await load;

    // Pauses per kill, as a benchmark figure: the longest any kind of load went unanswered.
    const pauses = kills.map((k) => ({
      kill: k.kill,
      recoveredMs: k.to - k.from,
      longestPauseMs: Object.fromEntries(
        (['policy', 'svid', 'audit', 'alert'] as const).map((kind) => [
          kind,
          longestPause(acked.successes[kind], k.from, k.to),
        ]),
      ),
    }));
    process.stdout.write(
      `${JSON.stringify({
        benchmark: 'cluster-chaos',
        acknowledged: {
          policies: acked.policies.size,
          svids: acked.svids.size,
          audit: acked.audit.size,
          alertsDelivered: acked.alerts,
        },
        failedAttempts: acked.failures,
        pauses,
      })}\n`,
    );
    // Each kind kept working after every kill (how long it paused is reported above, not asserted).
    for (const p of pauses)
      for (const [kind, pause] of Object.entries(p.longestPauseMs))
        assert.notEqual(pause, null, `${kind} never succeeded again after ${p.kill} was killed`);
    assert.ok(acked.policies.size > 0 && acked.svids.size > 0 && acked.audit.size > 0 && acked.alerts > 0);

    // Policy: every acknowledged submission committed exactly once; revisions contiguous, none twice.
    const committed = await readAll(admin, StreamName.policy, subjectOf(policyCommitted, {}));
    const bySubmission = new Map<string, number[]>();
    for (const e of committed) {
      if (e.data['dryRun'] === true) continue;
      const id = String(e.data['submissionId']);
      bySubmission.set(id, [...(bySubmission.get(id) ?? []), Number(e.data['revision'])]);
    }
    for (const [id, revision] of acked.policies)
      assert.deepEqual(bySubmission.get(id), [revision], `submission ${id}`);
    const revisions = [...bySubmission.values()].flat().sort((a, b) => a - b);
    assert.equal(new Set(revisions).size, revisions.length, 'no revision committed twice');
    revisions.forEach((r, i) => assert.equal(r, (revisions[0] ?? 0) + i, `revisions contiguous at ${r}`));

    // SVIDs: each acknowledged one issued exactly once; each SPIFFE ID (one token each) at most once.
    const issued = await readAll(admin, StreamName.identity, subjectOf(identityIssued, {}));
    const issuedFor = new Map<string, string[]>();
    for (const e of issued) {
      const id = String(e.data['spiffeId']);
      issuedFor.set(id, [...(issuedFor.get(id) ?? []), String(e.data['serial'])]);
    }
    for (const [spiffeId, serial] of acked.svids)
      assert.deepEqual(issuedFor.get(spiffeId), [serial], spiffeId);
    for (const spiffeId of acked.tokens.values())
      assert.ok((issuedFor.get(spiffeId)?.length ?? 0) <= 1, `token for ${spiffeId} used at most once`);
    // And no token that got an SVID is accepted again, whichever CA replica answers.
    for (const [token, spiffeId] of [...acked.tokens].filter(([, id]) => acked.svids.has(id)).slice(0, 20)) {
      const keys = await generateKeyPair();
      await assert.rejects(
        agent.request(caSign, {
          csrPem: await createCsr(keys, spiffeId),
          evidence: { type: 'join-token', token },
        }),
        /token_used|already used/,
      );
    }

    // Audit: each acknowledged record stored exactly once, in one unbroken chain.
    const records = await readAll(
      admin,
      StreamName.audit,
      subjectOf(audit, { principal: 'console', instance: 'chaos-load' }),
    );
    const targets = new Map<string, number>();
    for (const r of records)
      targets.set(String(r.data['target']), (targets.get(String(r.data['target'])) ?? 0) + 1);
    for (const target of acked.audit) assert.equal(targets.get(target), 1, `audit record ${target}`);
    const seqs = records.map((r) => Number((r.data['chain'] as { seq: number }).seq));
    seqs.forEach((s, i) => assert.equal(s, i + 1, 'the chain has no gap'));

    // Every service replica reports ready.
    const replicaPorts = [ports.services, ports.cluster?.secondReplica.services];
    for (const services of replicaPorts)
      for (const name of servicePrincipals) {
        const port = services?.[name];
        assert.ok(port);
        await until(`${name} ready on ${port}`, () => httpOk(`http://127.0.0.1:${port}/readyz`), 30_000);
      }
    passed = true;
  });
});
