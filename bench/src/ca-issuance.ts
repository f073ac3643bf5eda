import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { allStreams, Bus, caSign, caToken, Principal, provision } from '@warden/events';
import { freePort, httpOk, repoRoot, seedFile, startProcess } from '@warden/infra';
import { createCsr, exportPrivateKeyPem, generateKeyPair, KeyAlgorithm } from '@warden/pki';
import { startTestNats, startTestRedis, tempDir } from '@warden/testing';
import type { Benchmark } from './benchmark.ts';
import { cpuSecondsOf, percentile, round, target } from './benchmark.ts';

/**
 * SVID issuance over the bus: `Bus.request(caSign)` from an agent connection to the real CA
 * service (its own process, as in production, with its sealed keys, Redis index and JetStream
 * `identity.issued` event per certificate), at concurrency 1 and 64. Each request carries a fresh
 * ECDSA P-256 CSR and a single-use join token, both made before the clock starts. The reference is
 * the raw `node:crypto` ECDSA P-256 signing rate on this machine, measured in the same run: one
 * signature is the least an issuance can cost.
 */

const SPIFFE_ID = 'spiffe://cluster.local/ns/bench/sa/workload';

export type Request = { csrPem: string; token: string };
type Run = { svidsPerSec: number; p50Ms: number; p99Ms: number; count: number };

export async function prepare(user: Bus, count: number): Promise<Request[]> {
  const keys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
  const requests: Request[] = [];
  for (let i = 0; i < count; i++) {
    // One key for every CSR: the CA's work does not depend on the key, and making keys is not measured.
    const csrPem = await createCsr(keys, SPIFFE_ID);
    const { token } = await user.request(caToken, { spiffeId: SPIFFE_ID, ttlSeconds: 3600 });
    requests.push({ csrPem, token });
  }
  return requests;
}

export async function issueAll(agent: Bus, requests: Request[], concurrency: number): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    for (let i = next++; i < requests.length; i = next++) {
      const request = requests[i];
      if (!request) return;
      const t0 = process.hrtime.bigint();
      await agent.request(
        caSign,
        { csrPem: request.csrPem, evidence: { type: 'join-token', token: request.token } },
        { timeoutMs: 30_000 },
      );
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return {
    svidsPerSec: round(requests.length / seconds, 0),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    count: requests.length,
  };
}

async function rawSignRate(count: number): Promise<number> {
  const keys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
  const key = createPrivateKey(await exportPrivateKeyPem(keys.privateKey));
  const tbs = Buffer.alloc(450, 7);
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) sign('sha256', tbs, key);
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

export const caIssuance: Benchmark = {
  name: 'ca-issuance',
  description:
    'SVIDs/s and p50/p99 over the bus (CA process, join tokens) at concurrency 1 and 64 vs raw ECDSA signing',
  // 5,000 SVIDs at concurrency 64: a phase of about 2 s, long enough that one GC pause or JIT
  // tier-up does not decide the figure (at 2,000 it lasted 1 s and varied by ±10%).
  defaults: { serial: 300, parallel: 5000, warmup: 200, signs: 20_000 },
  run: async (params, progress) => {
    const { serial = 1, parallel = 1, warmup = 0, signs = 1 } = params;
    const nats = await startTestNats();
    const redis = await startTestRedis();
    // As the local stack does: the operator creates every stream before the services start.
    const admin = await nats.connect('admin');
    await provision(admin, { streams: allStreams });
    await admin.close();
    const dir = tempDir('bench-ca');
    const port = await freePort();
    const ca = await startProcess({
      name: 'ca',
      command: process.execPath,
      args: [join(repoRoot, 'services', 'ca', 'src', 'main.ts')],
      logFile: join(dir, 'ca.log'),
      env: {
        ...process.env,
        WARDEN_NATS_URL: nats.url,
        WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'ca'),
        WARDEN_HTTP_PORT: String(port),
        WARDEN_LOG_LEVEL: 'warn',
        ...redis.env('ca'),
        WARDEN_CA_DIR: join(dir, 'state'),
        WARDEN_CA_KEK: randomBytes(32).toString('base64'),
      },
      ready: () => httpOk(`http://127.0.0.1:${port}/readyz`),
    });
    try {
      const user = new Bus(await nats.connect(Principal.user), { source: 'bench-user' });
      const agent = new Bus(await nats.connect(Principal.agent), { source: 'bench-agent' });
      progress(`preparing ${warmup + serial + parallel} CSRs and join tokens`);
      const all = await prepare(user, warmup + serial + parallel);
      progress('warm-up');
      await issueAll(agent, all.slice(0, warmup), 16);
      const baseline = round(await rawSignRate(signs), 0);
      progress(`concurrency 1: ${serial} SVIDs`);
      const one = await issueAll(agent, all.slice(warmup, warmup + serial), 1);
      progress(`concurrency 64: ${parallel} SVIDs`);
      const caCpuBefore = cpuSecondsOf(ca.child.pid);
      const many = await issueAll(agent, all.slice(warmup + serial), 64);
      const caCpuMsPerSvid = round(((cpuSecondsOf(ca.child.pid) - caCpuBefore) * 1000) / many.count, 3);
      const afterRaw = round(await rawSignRate(signs), 0);
      return {
        results: {
          c1SvidsPerSec: one.svidsPerSec,
          c1P50Ms: one.p50Ms,
          c1P99Ms: one.p99Ms,
          c64SvidsPerSec: many.svidsPerSec,
          c64P50Ms: many.p50Ms,
          c64P99Ms: many.p99Ms,
          c64CaCpuMsPerSvid: caCpuMsPerSvid,
        },
        baseline: { nodeCryptoEcdsaP256SignsPerSec: [baseline, afterRaw] },
        ratio: round(many.svidsPerSec / Math.max(baseline, afterRaw), 4),
        target: target(
          'at least 2,000 SVIDs/s over the bus at concurrency 64',
          'c64SvidsPerSec',
          many.svidsPerSec,
          '>=',
          2000,
        ),
      };
    } finally {
      await ca.stop();
      await redis.stop();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
