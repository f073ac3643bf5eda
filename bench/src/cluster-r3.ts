import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  allStreams,
  Bus,
  caBundle,
  policyCommitted,
  policyRejected,
  policySubmit,
  Principal,
  provision,
  telemetryAccess,
} from '@warden/events';
import {
  binary,
  CLUSTER_JETSTREAM_REPLICAS,
  freePort,
  httpOk,
  repoRoot,
  seedFile,
  startProcess,
} from '@warden/infra';
import type { ServerProcess } from '@warden/infra';
import { startTestNats, startTestRedis, tempDir } from '@warden/testing';
import type { TestNats, TestRedis } from '@warden/testing';
import type { Benchmark, Figures } from './benchmark.ts';
import { percentile, pump, round, sidesFor, split, target } from './benchmark.ts';
import { accessBatch } from './bus-publish-throughput.ts';
import { issueAll, prepare } from './ca-issuance.ts';
import type { Request } from './ca-issuance.ts';

/**
 * The cost of replication: the same three measurements on a three-node JetStream cluster with
 * every stream at R3 (`results`) and on one nats-server at R1 (`baseline`), both running at once
 * and measured in alternating order per round, each with its own Redis and its own CA process:
 *
 * - request/reply: `Bus.request(caBundle)` from an agent to the CA, one in flight (core NATS; on
 *   the cluster the requester and the CA may sit on different nodes, one route hop apart);
 * - publish: `Bus.publish` of telemetry access batches as telemetry-ingest, 256 in flight, each
 *   acknowledged only once a quorum of two nodes stored it;
 * - issuance: SVIDs at concurrency 64 with join tokens (a KV write and an `identity.issued`
 *   publish per SVID, both replicated);
 * - policy apply: one AuthorizationPolicy submitted as `user` until its `committed` event arrives,
 *   one at a time, through a policy service process (compile with `opa`, object store, KV, events).
 *
 * Clients connect with every node's URL, as services do, so each lands on a random node.
 */

const qualifiers = { namespace: 'shop', workload: 'checkout' };

type Setup = {
  name: 'cluster' | 'single';
  nats: TestNats;
  redis: TestRedis;
  ca: ServerProcess;
  policy: ServerProcess;
  /** Submission id → what to call when its outcome arrives. */
  outcomes: Map<string, (committed: boolean) => void>;
  agent: Bus;
  user: Bus;
  ingest: Bus;
  dir: string;
};

async function startSetup(name: Setup['name']): Promise<Setup> {
  const replicas = name === 'cluster' ? CLUSTER_JETSTREAM_REPLICAS : 1;
  const nats = await startTestNats(name === 'cluster' ? { cluster: 3 } : {});
  const redis = await startTestRedis();
  const admin = await nats.connect('admin');
  await provision(admin, { streams: allStreams, replicas });
  const dir = tempDir(`bench-${name}`);
  const port = await freePort();
  const policyPort = await freePort();
  const ca = await startProcess({
    name: `ca-${name}`,
    command: process.execPath,
    args: [join(repoRoot, 'services', 'ca', 'src', 'main.ts')],
    logFile: join(dir, 'ca.log'),
    env: {
      ...process.env,
      WARDEN_NATS_URL: nats.url,
      WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'ca'),
      WARDEN_JETSTREAM_REPLICAS: String(replicas),
      WARDEN_HTTP_PORT: String(port),
      WARDEN_LOG_LEVEL: 'warn',
      ...redis.env('ca'),
      WARDEN_CA_DIR: join(dir, 'state'),
      WARDEN_CA_KEK: randomBytes(32).toString('base64'),
    },
    ready: () => httpOk(`http://127.0.0.1:${port}/readyz`),
    readyTimeoutMs: 60_000,
  });
  const policy = await startProcess({
    name: `policy-${name}`,
    command: process.execPath,
    args: [join(repoRoot, 'services', 'policy', 'src', 'main.ts')],
    logFile: join(dir, 'policy.log'),
    env: {
      ...process.env,
      WARDEN_NATS_URL: nats.url,
      WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'policy'),
      WARDEN_JETSTREAM_REPLICAS: String(replicas),
      WARDEN_HTTP_PORT: String(policyPort),
      WARDEN_LOG_LEVEL: 'warn',
      WARDEN_OPA_PATH: binary('opa'),
    },
    ready: () => httpOk(`http://127.0.0.1:${policyPort}/readyz`),
    readyTimeoutMs: 60_000,
  });
  const user = new Bus(await nats.connect(Principal.user), { source: 'bench-user' });
  const outcomes = new Map<string, (committed: boolean) => void>();
  user.subscribe(policyCommitted, (e) => outcomes.get(e.data.submissionId)?.(true));
  user.subscribe(policyRejected, (e) => outcomes.get(e.data.submissionId)?.(false));
  await user.nc.flush();
  return {
    name,
    nats,
    redis,
    ca,
    policy,
    outcomes,
    dir,
    agent: new Bus(await nats.connect(Principal.agent), { source: 'bench-agent' }),
    user,
    ingest: new Bus(await nats.connect(Principal.telemetryIngest), { source: 'bench-telemetry-ingest' }),
  };
}

/** One AuthorizationPolicy applied: milliseconds from the submission to its `committed` event. */
async function applyOnce(s: Setup, n: number): Promise<number> {
  const id = randomUUID();
  const text = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: bench-${n}, namespace: shop }
spec:
  action: ALLOW
  rules: [{ to: [{ operation: { methods: ["GET"], paths: ["/item/${n}"] } }] }]
`;
  const t0 = process.hrtime.bigint();
  const outcome = new Promise<boolean>((resolve) => s.outcomes.set(id, resolve));
  await s.user.publish(policySubmit, { kind: 'authorization-policy', text }, { id });
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`${s.name}: no outcome for submission ${id} in 60 s`)), 60_000).unref(),
  );
  const committed = await Promise.race([outcome, timeout]);
  s.outcomes.delete(id);
  if (!committed) throw new Error(`${s.name}: the policy service rejected a benchmark policy`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function stopSetup(setup: Setup): Promise<void> {
  await setup.policy.stop();
  await setup.ca.stop();
  await setup.redis.stop();
  await setup.nats.stop();
  rmSync(setup.dir, { recursive: true, force: true });
}

type Tally = {
  latenciesMs: number[];
  published: number;
  publishSeconds: number;
  svids: number;
  svidSeconds: number;
  applyMs: number[];
};

export const clusterR3: Benchmark = {
  name: 'cluster-r3',
  description:
    'request/reply p50/p99, publish msgs/s, SVIDs/s at concurrency 64 and policy apply p50/p99 on 3 nodes at R3 vs 1 node at R1',
  defaults: {
    requests: 2000,
    messages: 20_000,
    window: 256,
    records: 10,
    svids: 3000,
    applies: 60,
    rounds: 4,
    warmup: 300,
  },
  run: async (params, progress) => {
    const {
      requests = 1,
      messages = 1,
      window = 1,
      records = 10,
      svids = 1,
      applies = 1,
      rounds = 1,
      warmup = 0,
    } = params;
    const batch = accessBatch(records);
    progress('starting one nats-server and a three-node cluster, each with Redis and a CA');
    const [cluster, single] = await Promise.all([startSetup('cluster'), startSetup('single')]);
    try {
      const tallies = new Map<Setup['name'], Tally>(
        [cluster, single].map((s) => [
          s.name,
          { latenciesMs: [], published: 0, publishSeconds: 0, svids: 0, svidSeconds: 0, applyMs: [] },
        ]),
      );
      progress(`preparing ${warmup + svids} CSRs and join tokens on each`);
      const tokens = new Map<Setup['name'], Request[]>();
      for (const s of [cluster, single]) tokens.set(s.name, await prepare(s.user, warmup + svids));
      for (const s of [cluster, single]) {
        await issueAll(s.agent, (tokens.get(s.name) ?? []).splice(0, warmup), 16);
        await pump(warmup, window, () => s.ingest.publish(telemetryAccess, batch, { qualifiers }));
      }
      const perRound = {
        requests: split(requests, rounds),
        messages: split(messages, rounds),
        svids: split(svids, rounds),
        applies: split(applies, rounds),
      };
      let applied = 0;
      for (let index = 0; index < rounds; index++) {
        for (const s of sidesFor(index, cluster, single)) {
          const tally = tallies.get(s.name);
          if (!tally) continue;
          for (let i = 0; i < (perRound.requests[index] ?? 0); i++) {
            const t0 = process.hrtime.bigint();
            await s.agent.request(caBundle, {});
            tally.latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
          }
          const count = perRound.messages[index] ?? 0;
          tally.publishSeconds += await pump(count, window, () =>
            s.ingest.publish(telemetryAccess, batch, { qualifiers }),
          );
          tally.published += count;
          const mine = (tokens.get(s.name) ?? []).splice(0, perRound.svids[index] ?? 0);
          const run = await issueAll(s.agent, mine, 64);
          tally.svids += mine.length;
          tally.svidSeconds += mine.length / run.svidsPerSec;
          for (let i = 0; i < (perRound.applies[index] ?? 0); i++)
            tally.applyMs.push(await applyOnce(s, applied++));
        }
        progress(`round ${index + 1}/${rounds}`);
      }
      const figures = (name: Setup['name']): Figures => {
        const t = tallies.get(name);
        if (!t) return {};
        const sorted = [...t.latenciesMs].sort((a, b) => a - b);
        return {
          requestP50Ms: round(percentile(sorted, 50), 3),
          requestP99Ms: round(percentile(sorted, 99), 3),
          publishMsgsPerSec: Math.round(t.published / t.publishSeconds),
          c64SvidsPerSec: Math.round(t.svids / t.svidSeconds),
          policyApplyP50Ms: round(
            percentile(
              [...t.applyMs].sort((a, b) => a - b),
              50,
            ),
            1,
          ),
          policyApplyP99Ms: round(
            percentile(
              [...t.applyMs].sort((a, b) => a - b),
              99,
            ),
            1,
          ),
        };
      };
      const results = figures('cluster');
      const baseline = figures('single');
      const ratio = round(Number(results['publishMsgsPerSec']) / Number(baseline['publishMsgsPerSec']), 3);
      return {
        results,
        baseline,
        ratio,
        target: target(
          'R3 on three nodes keeps at least half the single node publish throughput',
          'ratio',
          ratio,
          '>=',
          0.5,
        ),
      };
    } finally {
      await Promise.all([stopSetup(cluster), stopSetup(single)]);
    }
  },
};
