import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newSerial, normaliseSerial } from '@warden/pki';
import { createLogger } from '@warden/runtime';
import type { TestTrustDomain as TestAuthority } from '@warden/testing';
import { testTrustDomain as testAuthority } from '@warden/testing';
import { Registry } from 'prom-client';
import type { Crl } from './crl.ts';
import { CrlRefresher } from './crl-refresher.ts';
import type { CrlRefresherOptions } from './crl-refresher.ts';
import type { CrlError } from './errors.ts';
import { CrlProblem } from './errors.ts';
import { createAgentMetrics } from './metrics.ts';

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | false>): Promise<T> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(5)) {
    const value = await probe();
    if (value) return value;
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('CRL refresher', () => {
  let ca: TestAuthority;
  /** What the fake CA endpoint answers next: a CRL file, or an HTTP status. */
  let answer: string | number = 0;
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    if (typeof answer === 'number') res.writeHead(answer).end();
    else res.end(answer);
  });
  let url = '';
  before(async () => {
    ca = await testAuthority();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/crl.pem`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function refresher(overrides: Partial<Pick<CrlRefresherOptions, 'backoff' | 'changed' | 'failed'>> = {}) {
    const changes: Crl[] = [];
    const failures: CrlError[] = [];
    const metrics = createAgentMetrics(
      new Registry(),
      () => [],
      () => null,
    );
    const crl = new CrlRefresher({
      url,
      refreshMs: 60_000,
      timeoutMs: 1000,
      backoff: { initialMs: 20, maxMs: 40 },
      trust: () => ({
        trustDomain: 'cluster.local',
        roots: ca.bundle.rootsPem,
        intermediates: [ca.intermediatePem],
      }),
      changed: (next) => changes.push(next),
      failed: (err) => failures.push(err),
      ...overrides,
      metrics,
      log: createLogger({ service: 'agent', instance: 'test', level: 'silent' }),
    });
    return { crl, changes, failures, metrics };
  }

  it('after a revocation event, fetches again until the CA has re-signed its CRL with the serial', async () => {
    const { crl, changes, failures } = refresher();
    try {
      // As the agent passes them on from the event; a random serial may start with a zero.
      const serial = normaliseSerial(newSerial());
      answer = await ca.crls();
      crl.revoked([serial], new Date());
      assert.equal(requests, 0, 'nothing is fetched before start');
      crl.start();
      await until('the first CRL', () => changes.length === 1);
      // The CA publishes the event before it re-signs: the agent sees the old CRL a few times.
      const seen = requests;
      await until('two more fetches of the old CRL', () => requests >= seen + 2);
      answer = await ca.crls({ serials: [serial] });
      const listed = await until('a CRL listing the serial', () =>
        changes.find((c) => c.serials.has(serial)),
      );
      assert.equal(crl.current, listed);
      assert.deepEqual(failures, []);
      // Listed: no more fetching until the periodic refresh.
      const settled = requests;
      await sleep(200);
      assert.equal(requests, settled);
    } finally {
      await crl.stop();
    }
  });

  it('keeps the current CRL while refreshing fails, and reports each failing streak once', async () => {
    const { crl, changes, failures, metrics } = refresher();
    const failed = async (): Promise<number> =>
      (await metrics.crlFailures.get()).values.reduce((sum, v) => sum + v.value, 0);
    try {
      answer = await ca.crls();
      crl.start();
      await until('the first CRL', () => changes.length === 1);
      const good = crl.current;
      answer = 503;
      crl.revoked([], new Date());
      await until('retries of an unavailable CA', async () => (await failed()) >= 3);
      answer = await (await testAuthority()).crls();
      await until('retries against CRLs of another CA', async () => (await failed()) >= 5);
      assert.equal(crl.current, good, 'the last good CRL stays');
      assert.equal(changes.length, 1);
      const codes = new Set((await metrics.crlFailures.get()).values.map((v) => v.labels['code']));
      assert.deepEqual(codes, new Set([CrlProblem.unavailable, CrlProblem.untrusted]));
      assert.deepEqual(
        failures.map((f) => f.code),
        [CrlProblem.unavailable],
        'one streak, one report, whatever failed within it',
      );
      answer = await ca.crls();
      await until('a good CRL again', () => changes.length === 2);
      answer = 'garbage';
      crl.revoked([], new Date());
      await until('a second streak', () => failures.length === 2);
      assert.equal(failures[1]?.code, CrlProblem.invalid);
    } finally {
      await crl.stop();
    }
  });

  it('keeps the CRL it holds when the CA serves an older one, and counts it', async () => {
    const { crl, changes, failures, metrics } = refresher();
    try {
      answer = await ca.crls({ thisUpdate: new Date(Date.now() - 60_000) });
      crl.start();
      await until('the first CRL', () => changes.length === 1);
      const held = crl.current;
      const serial = normaliseSerial(newSerial());
      answer = await ca.crls({ serials: [serial] });
      crl.revoked([serial], new Date());
      await until('the CRL listing the revocation', () => changes.length === 2);
      // A genuine CRL from before the revocation, replayed on the way or by a stale cache.
      answer = held?.pem ?? '';
      crl.fetchNow();
      await until('the older CRL refused', () => failures.length === 1);
      assert.equal(failures[0]?.code, CrlProblem.olderThanHeld);
      assert.equal(crl.current, changes[1]);
      assert.ok(crl.current?.serials.has(serial), 'still revoked');
      const counted = (await metrics.crlFailures.get()).values.find(
        (v) => v.labels['code'] === CrlProblem.olderThanHeld,
      );
      assert.ok(counted && counted.value >= 1);
    } finally {
      await crl.stop();
    }
  });

  it('fetches at once when asked (a bundle event), whatever the periodic schedule', async () => {
    const { crl, changes } = refresher();
    try {
      answer = await ca.crls();
      crl.fetchNow();
      await until('the first CRL, fetchNow starting the refresher', () => changes.length === 1);
      await sleep(50);
      const seen = requests;
      crl.fetchNow();
      await until('another fetch', () => requests === seen + 1);
    } finally {
      await crl.stop();
    }
  });

  it('goes on fetching when a callback throws', async () => {
    const seen: Crl[] = [];
    let reported = 0;
    const { crl } = refresher({
      changed: (next) => {
        seen.push(next);
        throw new Error('changed broke');
      },
      failed: () => {
        reported++;
        throw new Error('failed broke');
      },
    });
    try {
      // Awaiting a revocation keeps the retries close together, as does failing.
      const serial = normaliseSerial(newSerial());
      answer = await ca.crls();
      crl.revoked([serial], new Date());
      crl.start();
      await until('the first CRL', () => seen.length === 1);
      answer = await ca.crls({ serials: [serial] });
      await until('the CRL listing the serial', () => seen.find((c) => c.serials.has(serial)));
      answer = 503;
      crl.revoked([], new Date());
      await until('a failure reported', () => reported === 1);
      const failing = requests;
      await until('retries after the report threw', () => requests >= failing + 2);
      answer = await ca.crls({ serials: [serial, normaliseSerial(newSerial())] });
      await until('a good CRL again', () => seen.length === 3);
    } finally {
      await crl.stop();
    }
  });

  it('does not reset the backoff for revocations while refreshing fails', async () => {
    const { crl, failures } = refresher({ backoff: { initialMs: 300, maxMs: 300 } });
    try {
      answer = 503;
      crl.start();
      await until('the first failure', () => failures.length === 1);
      const seen = requests;
      // A burst of revocations while the CA is away: the retry stays where the backoff put it.
      for (let i = 0; i < 10; i++) {
        crl.revoked([normaliseSerial(newSerial())], new Date());
        await sleep(10);
      }
      assert.ok(requests <= seen + 1, `${requests - seen} fetches for 10 revocations in 100 ms`);
      // The awaited serials still get their fetch, at the backoff's time.
      await until('the retry', () => requests > seen);
    } finally {
      await crl.stop();
    }
  });
});
