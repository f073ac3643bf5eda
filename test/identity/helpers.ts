import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, beforeEach } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import { caService } from '@warden/ca';
import { allStreams, Bus, caSign, caToken, provision, RemoteError } from '@warden/events';
import type { ReplyOf } from '@warden/events';
import { seedFile } from '@warden/infra';
import {
  createCsr,
  decodePem,
  exportPrivateKeyPem,
  generateKeyPair,
  KeyAlgorithm,
  renewalProof,
} from '@warden/pki';
import type { KeyAlgorithm as KeyAlgorithmType } from '@warden/pki';
import { runService } from '@warden/runtime';
import type { RunningService } from '@warden/runtime';
import type { TestNats } from '@warden/testing';
import { tempDir, useNats, useRedis } from '@warden/testing';

export const TRUST_DOMAIN = 'cluster.local';
export const ID = 'spiffe://cluster.local/ns/payments/sa/api';
export const OTHER_ID = 'spiffe://cluster.local/ns/payments/sa/worker';

export const newKek = (): string => randomBytes(32).toString('base64');

/** A CA's durable state: its folder (removed when the test file ends), its KEK, and its settings. */
export type CaHome = { readonly dir: string; readonly kek: string; readonly env: NodeJS.ProcessEnv };

/**
 * What every CA test suite sets up: real NATS and Redis, every stream provisioned before each
 * test, and CAs in new (or given) homes with their clients.
 */
export function useCa() {
  const nats = useNats();
  const redis = useRedis();
  beforeEach(() => provisionAll(nats.get()));
  const newHome = (): CaHome => {
    const dir = tempDir('ca');
    after(() => rmSync(dir, { recursive: true, force: true }));
    const kek = newKek();
    const env = {
      WARDEN_NATS_URL: nats.get().url,
      WARDEN_NATS_SEED_FILE: seedFile(nats.get().credsDir, 'ca'),
      WARDEN_HTTP_PORT: '0',
      WARDEN_LOG_LEVEL: 'silent',
      WARDEN_INSTANCE: 'ca-test',
      ...redis.get().env('ca'),
      WARDEN_CA_DIR: dir,
      WARDEN_CA_KEK: kek,
    };
    return { dir, kek, env };
  };
  return {
    nats,
    redis,
    newHome,
    /** The CA service, in-process, in `home` (a new one unless given) with `extra` settings. */
    startCa: (home: CaHome = newHome(), extra: NodeJS.ProcessEnv = {}): Promise<RunningService> =>
      runService(caService, { ...home.env, ...extra }),
    clients: (): Promise<Clients> => clients(nats.get()),
  };
}

/**
 * What the local stack does before any service starts: the operator creates every stream, so the
 * CA can write the audit log (owned by the enforcer) and consume revocations without the enforcer.
 */
async function provisionAll(nats: TestNats): Promise<void> {
  const admin = await nats.connect('admin');
  try {
    await provision(admin, { streams: allStreams });
  } finally {
    await admin.close();
  }
}

export type Clients = { user: Bus; agent: Bus; userNc: NatsConnection; agentNc: NatsConnection };

/** People create tokens (`user`); agents ask for certificates (`agent`), each with its own creds. */
async function clients(nats: TestNats): Promise<Clients> {
  const userNc = await nats.connect('user');
  const agentNc = await nats.connect('agent');
  return {
    user: new Bus(userNc, { source: 'test-user' }),
    agent: new Bus(agentNc, { source: 'test-agent' }),
    userNc,
    agentNc,
  };
}

/** For assert.rejects: the CA answered with this error code. */
export const remoteCode = (code: string) => (err: unknown) => {
  assert.ok(err instanceof RemoteError, `expected a RemoteError, got ${String(err)}`);
  assert.equal(err.remoteCode, code, err.message);
  return true;
};

export type Svid = ReplyOf<typeof caSign> & { keys: CryptoKeyPair; keyPem: string };
type CryptoKeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

export async function createToken(c: Clients, spiffeId = ID, ttlSeconds = 300): Promise<string> {
  return (await c.user.request(caToken, { spiffeId, ttlSeconds })).token;
}

/** A new key, a CSR for it, and an SVID obtained with a fresh join token. */
export async function enrol(
  c: Clients,
  spiffeId = ID,
  algorithm: KeyAlgorithmType = KeyAlgorithm.ecdsaP256,
): Promise<Svid> {
  const token = await createToken(c, spiffeId);
  const keys = await generateKeyPair(algorithm);
  const reply = await c.agent.request(caSign, {
    csrPem: await createCsr(keys, spiffeId),
    evidence: { type: 'join-token', token },
  });
  return { ...reply, keys, keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * Renews `svid` as an agent does: a new key and CSR, the `svid` evidence with the proof of
 * possession signed by the current SVID's key (or `proofKey`, to test a wrong one).
 */
export async function renew(
  c: Clients,
  svid: Svid,
  options: { proofKey?: CryptoKeyPair['privateKey']; spiffeId?: string } = {},
): Promise<Svid> {
  const keys = await generateKeyPair();
  const csrPem = await createCsr(keys, options.spiffeId ?? svid.spiffeId);
  const [der] = decodePem(csrPem, 'CERTIFICATE REQUEST', 'CSR', { maxBytes: 16_384, maxBlocks: 1 });
  assert.ok(der);
  const signature = await renewalProof(der, options.proofKey ?? svid.keys.privateKey);
  const reply = await c.agent.request(caSign, {
    csrPem,
    evidence: { type: 'svid', chainPem: svid.chainPem.join(''), signature },
  });
  return { ...reply, keys, keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
