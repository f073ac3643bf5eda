import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { startOpsServer } from './http.ts';

describe('ops server', () => {
  it('serves /metrics, /healthz and /readyz with the readiness reason', async () => {
    const registry = new Registry();
    new Counter({ name: 'warden_test_total', help: 'test', registers: [registry] }).inc(3);
    let reason: string | null = 'provisioning';
    const ops = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      health: { notReadyReason: () => reason },
    });
    const get = (path: string): Promise<Response> => fetch(`http://127.0.0.1:${ops.port}${path}`);
    try {
      assert.match(await (await get('/metrics')).text(), /warden_test_total 3/);
      assert.equal((await get('/healthz')).status, 200);
      const notReady = await get('/readyz');
      assert.equal(notReady.status, 503);
      assert.match(await notReady.text(), /provisioning/);
      reason = null;
      assert.equal((await get('/readyz')).status, 200);
      assert.equal((await get('/nope')).status, 404);
      assert.equal((await fetch(`http://127.0.0.1:${ops.port}/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await ops.close();
    }
  });
});
