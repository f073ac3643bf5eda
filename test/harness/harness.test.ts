import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { redisCommand, useRedis, useVictoriaMetrics } from '@warden/testing';

describe('harness: redis-server', () => {
  const redis = useRedis();

  it('runs a real redis on a loopback port', async () => {
    assert.equal(await redis.get().command(['SET', 'k', 'v', 'NX', 'EX', '60']), '+OK');
    assert.equal(await redis.get().command(['SET', 'k', 'v', 'NX', 'EX', '60']), '$-1');
  });

  it('starts each test from an empty database', async () => {
    assert.equal(await redis.get().command(['DBSIZE']), ':0');
  });

  it('runs with one ACL user per service: no anonymous access, each to its own keys and commands', async () => {
    const { port } = redis.get();
    const as = (user: 'ca' | 'topology', args: string[]) =>
      redisCommand(port, args, redis.get().authFor(user));
    assert.match(await redisCommand(port, ['SET', 'warden:ca:x', '1']), /^-NOAUTH/);
    assert.match(await redisCommand(port, ['PING'], { username: 'ca', password: 'guess' }), /^-WRONGPASS/);
    assert.equal(await as('ca', ['SET', 'warden:ca:token-used:x', '1']), '+OK');
    for (const args of [
      ['FLUSHALL'],
      ['FLUSHDB'],
      ['KEYS', '*'],
      ['CONFIG', 'GET', 'dir'],
      ['DEBUG', 'SLEEP', '0'],
      ['MODULE', 'LIST'],
      ['ACL', 'LIST'],
      ['SET', 'warden:topology:graph:x', '1'],
      ['GET', 'elsewhere'],
    ])
      // DEBUG is off for everyone in this build; the rest is the ACL's refusal.
      assert.match(await as('ca', args), /^-NOPERM|^-ERR DEBUG command not allowed/, args.join(' '));
    assert.match(await as('topology', ['DEL', 'warden:ca:token-used:x']), /^-NOPERM/);
    assert.match(
      await as('topology', ['EVAL', "return redis.call('DEL', KEYS[1])", '1', 'warden:ca:token-used:x']),
      /^-NOPERM|^-ERR.*(permission|NOPERM)/i,
    );
    assert.equal(await redis.get().command(['EXISTS', 'warden:ca:token-used:x']), ':1');
  });
});

describe('harness: victoria-metrics', () => {
  const vm = useVictoriaMetrics();

  it('accepts InfluxDB line protocol and answers PromQL', async () => {
    const write = await fetch(`${vm.get().url}/api/v2/write?bucket=warden`, {
      method: 'POST',
      body: 'requests,workload=cart,namespace=shop count=42',
    });
    assert.equal(write.status, 204);
    // Freshly written samples become searchable within a moment, not at once: poll briefly.
    const deadline = Date.now() + 10_000;
    let value: string | undefined;
    while (value === undefined && Date.now() < deadline) {
      await fetch(`${vm.get().url}/internal/force_flush`);
      const query = await fetch(
        `${vm.get().url}/api/v1/query?query=${encodeURIComponent('requests_count{workload="cart"}')}`,
      );
      const body = (await query.json()) as { data: { result: { value: [number, string] }[] } };
      value = body.data.result[0]?.value[1];
      if (value === undefined) await sleep(100);
    }
    assert.equal(value, '42');
  });

  it('starts each test with no series', async () => {
    await fetch(`${vm.get().url}/internal/force_flush`);
    const res = await fetch(
      `${vm.get().url}/api/v1/series?match[]=${encodeURIComponent('{__name__=~".+"}')}`,
    );
    const body = (await res.json()) as { data: unknown[] };
    assert.deepEqual(body.data, []);
  });
});
