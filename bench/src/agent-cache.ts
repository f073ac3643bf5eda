import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import { agentService } from '@warden/agent';
import { caService } from '@warden/ca';
import { Bus, caToken } from '@warden/events';
import { seedFile } from '@warden/infra';
import type { RunningService } from '@warden/runtime';
import { runService } from '@warden/runtime';
import type { TestNats, TestRedis } from '@warden/testing';
import { startTestNats, startTestRedis } from '@warden/testing';
import type { Benchmark, Figures } from './benchmark.ts';
import { round, target } from './benchmark.ts';

/**
 * CA round trips saved by the agent's cache (memory + disk), measured with the real agent and the
 * real CA on a real nats-server and Redis, on a compressed clock: one simulated day lasts
 * `day-seconds` real seconds and the SVID TTL is one simulated day (ARCHITECTURE §3: 24 h), so each
 * workload rotates about twice a simulated day, as it would in production.
 *
 * Two runs of `days` simulated days, `workloads` entries on one host, `restarts` agent restarts
 * evenly spread:
 *
 * - with the cache: the agent as it is; a restart reuses its cached SVIDs and bundle;
 * - without (the baseline): the same agent whose state folder is wiped at every restart, i.e. an
 *   agent that keeps nothing. A restarted agent then has no SVID to renew with, so each workload
 *   needs a new join token (`warden.ca.v1.token`) and a bootstrap `warden.ca.v1.sign`, and the
 *   agent fetches the bundle (`warden.ca.v1.bundle`) again.
 *
 * Every request to the CA is counted as it passes on the bus. The target is on the round trips a
 * restart causes (the ones a cache can save; rotations happen either way): at least 95% fewer.
 */

type Counts = { sign: number; bootstrap: number; renewal: number; token: number; bundle: number };

async function countRequests(nats: TestNats): Promise<{ counts: Counts; nc: NatsConnection }> {
  const nc = await nats.connect('admin');
  const counts: Counts = { sign: 0, bootstrap: 0, renewal: 0, token: 0, bundle: 0 };
  const decoder = new TextDecoder();
  nc.subscribe('warden.ca.v1.>', {
    callback: (_err, msg) => {
      if (msg.subject === 'warden.ca.v1.token') counts.token++;
      else if (msg.subject === 'warden.ca.v1.bundle') counts.bundle++;
      else if (msg.subject === 'warden.ca.v1.sign') {
        counts.sign++;
        try {
          const type = (JSON.parse(decoder.decode(msg.data)) as { data?: { evidence?: { type?: string } } })
            .data?.evidence?.type;
          if (type === 'svid') counts.renewal++;
          else counts.bootstrap++;
        } catch {
          counts.bootstrap++;
        }
      }
    },
  });
  await nc.flush();
  return { counts, nc };
}

type RunOptions = {
  nats: TestNats;
  redis: TestRedis;
  workloads: number;
  days: number;
  restarts: number;
  daySeconds: number;
  cache: boolean;
  progress: (line: string) => void;
};

async function runOnce(options: RunOptions): Promise<Figures> {
  const { nats, redis, workloads } = options;
  const root = mkdtempSync(join(tmpdir(), 'warden-bench-agent-'));
  const caDir = join(root, 'ca');
  const agentDir = join(root, 'agent');
  const entriesFile = join(root, 'entries.yaml');
  const user = new Bus(await nats.connect('user'), { source: 'bench-user' });
  const base = {
    WARDEN_NATS_URL: nats.url,
    WARDEN_HTTP_PORT: '0',
    WARDEN_LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'silent',
  };
  const ca = await runService(caService, {
    ...base,
    WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'ca'),
    WARDEN_INSTANCE: 'ca-bench',
    ...redis.env('ca'),
    WARDEN_CA_DIR: caDir,
    WARDEN_CA_KEK: randomBytes(32).toString('base64'),
  });
  const ids = Array.from({ length: workloads }, (_, i) => `spiffe://cluster.local/ns/bench/sa/w${i}`);
  // What an operator does before (re)starting an agent that holds nothing: one token per workload.
  const writeEntries = async (): Promise<void> => {
    const tokens = await Promise.all(
      ids.map((spiffeId) => user.request(caToken, { spiffeId, ttlSeconds: 3600 })),
    );
    const lines = [
      'entries:',
      ...tokens.flatMap((t) => [`  - spiffeId: ${t.spiffeId}`, `    joinToken: ${t.token}`]),
    ];
    writeFileSync(entriesFile, `${lines.join('\n')}\n`);
  };
  const startAgent = (): Promise<RunningService> =>
    runService(agentService, {
      ...base,
      WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'agent'),
      WARDEN_INSTANCE: `agent-bench-${options.cache ? 'cache' : 'nocache'}`,
      WARDEN_AGENT_HOST: options.cache ? 'bench-cache' : 'bench-nocache',
      WARDEN_AGENT_DIR: agentDir,
      WARDEN_AGENT_ENTRIES_FILE: entriesFile,
      WARDEN_AGENT_SVID_TTL_SECONDS: String(options.daySeconds),
      WARDEN_AGENT_RETRY_INITIAL_MS: '100',
      WARDEN_AGENT_RETRY_MAX_MS: '1000',
    });
  const held = async (agent: RunningService): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${agent.httpPort}/metrics`)).text();
    return Number(/^warden_agent_certificates\S* (\S+)$/m.exec(text)?.[1] ?? 0);
  };
  const waitHeld = async (agent: RunningService): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while ((await held(agent)) < workloads) {
      if (Date.now() > deadline) throw new Error('the agent did not obtain every SVID within 60 s');
      await sleep(20);
    }
  };

  const { counts, nc } = await countRequests(nats);
  let agent: RunningService | undefined;
  try {
    await writeEntries();
    agent = await startAgent();
    await waitHeld(agent);
    const totalMs = options.days * options.daySeconds * 1000;
    const started = Date.now();
    for (let i = 0; i < options.restarts; i++) {
      const at = started + ((i + 0.5) * totalMs) / options.restarts;
      await sleep(Math.max(0, at - Date.now()));
      await agent.stop('bench restart');
      agent = undefined;
      if (!options.cache) {
        rmSync(agentDir, { recursive: true, force: true });
        await writeEntries();
      }
      agent = await startAgent();
      await waitHeld(agent);
      options.progress(
        `${options.cache ? 'cache' : 'no cache'}: restart ${i + 1}/${options.restarts}, ${counts.sign} signs so far`,
      );
    }
    await sleep(Math.max(0, started + totalMs - Date.now()));
    const finalHeld = await held(agent);
    // Round trips a restart causes: everything beyond the first boot's tokens, bootstraps and bundle.
    const restartRoundTrips =
      counts.bootstrap - workloads + (counts.token - workloads) + Math.max(0, counts.bundle - 1);
    return {
      caRoundTrips: counts.sign + counts.token + counts.bundle,
      signs: counts.sign,
      bootstrapSigns: counts.bootstrap,
      renewalSigns: counts.renewal,
      tokenRequests: counts.token,
      bundleRequests: counts.bundle,
      restartRoundTrips,
      certificatesHeldAtEnd: finalHeld,
    };
  } finally {
    await agent?.stop('bench done');
    await ca.stop('bench done');
    await nc.close();
    rmSync(root, { recursive: true, force: true });
  }
}

export const agentCache: Benchmark = {
  name: 'agent-cache',
  description: 'CA round trips with the agent cache vs an agent that keeps nothing, across restarts',
  defaults: { workloads: 100, days: 7, restarts: 10, 'day-seconds': 20 },
  async run(params, progress) {
    const common = {
      workloads: params['workloads'] ?? 100,
      days: params['days'] ?? 7,
      restarts: params['restarts'] ?? 10,
      daySeconds: params['day-seconds'] ?? 20,
      progress,
    };
    const nats = await startTestNats();
    const redis = await startTestRedis();
    try {
      const results = await runOnce({ ...common, nats, redis, cache: true });
      // A fresh server state for the baseline: its durable consumers and streams start clean too.
      await nats.reset();
      await redis.reset();
      const baseline = await runOnce({ ...common, nats, redis, cache: false });
      const num = (f: Figures, key: string): number => {
        const v = f[key];
        return typeof v === 'number' ? v : Number.NaN;
      };
      const saved =
        100 * (1 - num(results, 'restartRoundTrips') / Math.max(1, num(baseline, 'restartRoundTrips')));
      results['restartRoundTripsSavedPercent'] = round(saved, 1);
      results['totalRoundTripsSavedPercent'] = round(
        100 * (1 - num(results, 'caRoundTrips') / Math.max(1, num(baseline, 'caRoundTrips'))),
        1,
      );
      return {
        results,
        baseline,
        ratio: round(num(results, 'caRoundTrips') / Math.max(1, num(baseline, 'caRoundTrips')), 3),
        target: target(
          'CA round trips caused by agent restarts, with the cache vs without: at least 95% fewer',
          'restartRoundTripsSavedPercent',
          round(saved, 1),
          '>=',
          95,
        ),
      };
    } finally {
      await redis.stop();
      await nats.stop();
    }
  },
};
