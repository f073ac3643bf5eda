import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import { agentService, OutputFile } from '@warden/agent';
import { caService } from '@warden/ca';
import { Bus, caToken, provision, StreamName } from '@warden/events';
import { freePort, seedFile } from '@warden/infra';
import { inspectCertificate, parseCertificates } from '@warden/pki';
import type { RunningService } from '@warden/runtime';
import { runService } from '@warden/runtime';
import type { TestNats, TestRedis } from '@warden/testing';
import { tempDir, useNats, useRedis } from '@warden/testing';

export const TRUST_DOMAIN = 'cluster.local';
export const spiffe = (ns: string, sa: string): string => `spiffe://${TRUST_DOMAIN}/ns/${ns}/sa/${sa}`;

/** One CA's durable state: the folder and its key-encryption key survive a CA restart. */
export type CaHome = { dir: string; kek: string };
export const newCaHome = (): CaHome => ({ dir: tempDir('ca'), kek: randomBytes(32).toString('base64') });

/** The real CA service, in-process, with its own NATS credentials and the test's Redis. */
function startCa(
  nats: TestNats,
  redis: TestRedis,
  home: CaHome,
  extra: NodeJS.ProcessEnv = {},
): Promise<RunningService> {
  return runService(caService, {
    WARDEN_NATS_URL: nats.url,
    WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'ca'),
    ...redis.env('ca'),
    WARDEN_HTTP_PORT: '0',
    WARDEN_LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    WARDEN_INSTANCE: 'ca-test',
    WARDEN_CA_DIR: home.dir,
    WARDEN_CA_KEK: home.kek,
    ...extra,
  });
}

export type AgentHome = { dir: string; entriesFile: string; socket: string };
export const newAgentHome = (): AgentHome => {
  const dir = tempDir('agent');
  return { dir: join(dir, 'state'), entriesFile: join(dir, 'entries.yaml'), socket: join(dir, 'sds.sock') };
};

function startAgent(
  nats: TestNats,
  home: AgentHome,
  host: string,
  extra: NodeJS.ProcessEnv = {},
): Promise<RunningService> {
  return runService(agentService, {
    WARDEN_NATS_URL: nats.url,
    WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'agent'),
    WARDEN_HTTP_PORT: '0',
    WARDEN_LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    WARDEN_INSTANCE: `agent-${host}`,
    WARDEN_AGENT_HOST: host,
    WARDEN_AGENT_DIR: home.dir,
    WARDEN_AGENT_ENTRIES_FILE: home.entriesFile,
    WARDEN_AGENT_SDS_SOCKET: home.socket,
    WARDEN_AGENT_RETRY_INITIAL_MS: '100',
    WARDEN_AGENT_RETRY_MAX_MS: '500',
    WARDEN_AGENT_CA_TIMEOUT_MS: '1000',
    ...extra,
  });
}

/** The bus as people use it: `warden token create` asks the CA for a join token. */
async function joinToken(nats: TestNats, spiffeId: string): Promise<string> {
  const bus = new Bus(await nats.connect('user'), { source: 'test-user' });
  try {
    return (await bus.request(caToken, { spiffeId, ttlSeconds: 600 })).token;
  } finally {
    await bus.nc.close();
  }
}

export function writeEntries(
  home: AgentHome,
  entries: readonly { spiffeId: string; joinToken?: string; name?: string }[],
): void {
  const lines = ['entries:'];
  for (const e of entries) {
    lines.push(`  - spiffeId: ${e.spiffeId}`);
    if (e.name) lines.push(`    name: ${e.name}`);
    if (e.joinToken) lines.push(`    joinToken: ${e.joinToken}`);
  }
  writeFileSync(home.entriesFile, `${lines.join('\n')}\n`);
}

export const workloadDir = (home: AgentHome, name: string): string => join(home.dir, 'workloads', name);

/** The serial of the leaf in a workload's cert-chain.pem, or null when the file is not there. */
export function servedSerial(home: AgentHome, name: string): string | null {
  try {
    const [leaf] = parseCertificates(readFileSync(join(workloadDir(home, name), OutputFile.chain), 'utf8'));
    return leaf ? inspectCertificate(leaf).serial : null;
  } catch {
    return null;
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs = 10_000,
  everyMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** WARDEN_ENFORCEMENT belongs to enforcer and console; the tests create it as they would. */
async function provisionEnforcement(nats: TestNats): Promise<void> {
  const admin = await nats.connect('admin');
  try {
    await provision(admin, { streams: [StreamName.enforcement] });
  } finally {
    await admin.close();
  }
}

/** Counts requests to the CA as they pass (a second, queue-less subscriber sees every one). */
export async function countCaRequests(
  nats: TestNats,
): Promise<{ readonly count: number; nc: NatsConnection }> {
  const nc = await nats.connect('admin');
  const counter = { count: 0, nc };
  nc.subscribe('warden.ca.v1.>', { callback: () => void counter.count++ });
  await nc.flush();
  return counter;
}

/** A metric value from the service's /metrics, summed over label sets matching `labels`. */
export async function metric(service: RunningService, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name || !(match[2] ?? '').includes(labels)) continue;
    sum += Number(match[3]);
  }
  return sum;
}

/**
 * What every agent test suite sets up: real NATS and Redis, the CA and agents on them, and the
 * services a test starts, kept in `running`: `stopAll` stops them newest first (a test that checks
 * what shutdown leaves behind calls it), and it runs again when the file's tests end.
 */
export function useAgents() {
  const nats = useNats();
  const redis = useRedis();
  const running: RunningService[] = [];
  const stopAll = async (): Promise<void> => {
    for (const service of running.splice(0).reverse()) await service.stop('test done');
  };
  after(stopAll);
  return {
    nats,
    redis,
    running,
    stopAll,
    startCa: (home: CaHome = newCaHome(), extra: NodeJS.ProcessEnv = {}): Promise<RunningService> =>
      startCa(nats.get(), redis.get(), home, extra),
    /** The CA with its HTTP API (bundle and CRLs) on a free port, whose base URL is `url`. */
    startCaWithHttp: async (): Promise<{ service: RunningService; url: string }> => {
      const port = await freePort();
      const service = await startCa(nats.get(), redis.get(), newCaHome(), {
        WARDEN_CA_HTTP_PORT: String(port),
      });
      return { service, url: `http://127.0.0.1:${port}` };
    },
    startAgent: (home: AgentHome, host: string, extra: NodeJS.ProcessEnv = {}): Promise<RunningService> =>
      startAgent(nats.get(), home, host, extra),
    joinToken: (spiffeId: string): Promise<string> => joinToken(nats.get(), spiffeId),
    provisionEnforcement: (): Promise<void> => provisionEnforcement(nats.get()),
    /** A new agent home whose entries file lists each SPIFFE ID with a fresh join token. */
    homeWith: async (...spiffeIds: string[]): Promise<AgentHome> => {
      const home = newAgentHome();
      const entries = [];
      for (const spiffeId of spiffeIds)
        entries.push({ spiffeId, joinToken: await joinToken(nats.get(), spiffeId) });
      writeEntries(home, entries);
      return home;
    },
  };
}
