import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { provision } from '@warden/events';
import { seedFile } from '@warden/infra';
import { ConfigError, NatsCredentialsError, runService } from '@warden/runtime';
import { useNats } from '@warden/testing';

describe('service runtime', () => {
  const nats = useNats();
  const env = (name: string): NodeJS.ProcessEnv => ({
    WARDEN_NATS_URL: nats.get().url,
    WARDEN_NATS_SEED_FILE: seedFile(nats.get().credsDir, name),
    WARDEN_HTTP_PORT: '0',
    WARDEN_LOG_LEVEL: 'silent',
    WARDEN_INSTANCE: `${name}-test`,
  });

  it('boots, provisions what it owns, reports ready with metrics, audits its lifecycle and stops cleanly', async () => {
    // The audit log belongs to the enforcer; the stack creates it before any service starts.
    await provision(await nats.get().connect('admin'), { streams: ['WARDEN_AUDIT'] });
    let stopped = false;
    const service = await runService(
      {
        name: 'policy',
        start: async () => ({
          stop: async () => {
            stopped = true;
          },
        }),
      },
      env('policy'),
    );
    const base = `http://127.0.0.1:${service.httpPort}`;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /warden_service_ready\{service="policy"\} 1/);
    assert.match(metrics, /process_cpu_seconds_total/);

    const admin = await nats.get().connect('admin');
    const jsm = await jetstreamManager(admin);
    assert.equal((await jsm.streams.info('WARDEN_POLICY')).config.name, 'WARDEN_POLICY');
    assert.ok(await jsm.streams.info('KV_warden-policy'));
    assert.ok(await jsm.streams.info('OBJ_warden-bundles'));

    await service.stop('test');
    assert.ok(stopped);
    assert.ok(service.ctx.nc.isClosed());
    await assert.rejects(fetch(`${base}/healthz`));

    // Its start and stop, chained, and the stop's signed checkpoint over both.
    const subject = 'warden.audit.v1.record.policy.policy-test';
    const records = await jsm.streams.info('WARDEN_AUDIT', { subjects_filter: subject });
    assert.equal(records.state.subjects?.[subject], 2);
    const checkpoint = await jsm.streams.getMessage('WARDEN_AUDIT', {
      last_by_subj: 'warden.audit.v1.checkpoint.policy.policy-test',
    });
    assert.deepEqual(
      (({ seq, reason }) => ({ seq, reason }))(
        checkpoint?.json<{ data: { seq: number; reason: string } }>().data ?? { seq: 0, reason: '' },
      ),
      { seq: 2, reason: 'stop' },
    );
  });

  it('refuses to start with a bad setting, naming it', async () => {
    await assert.rejects(
      runService({ name: 'ca', start: async () => ({}) }, { ...env('ca'), WARDEN_HTTP_PORT: 'http' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /WARDEN_HTTP_PORT="http"/);
        return true;
      },
    );
    await assert.rejects(
      runService(
        { name: 'ca', start: async () => ({}) },
        { ...env('ca'), WARDEN_NATS_SEED_FILE: '/nonexistent/ca.nk' },
      ),
      NatsCredentialsError,
    );
  });

  it('fails fast, leaving nothing open, when started with another service credentials', async () => {
    // The CA's inbox prefix with the detector's key: the server refuses the subscription at once.
    const service = await runService(
      { name: 'ca', start: async () => ({}) },
      { ...env('ca'), WARDEN_NATS_SEED_FILE: seedFile(nats.get().credsDir, 'detector') },
    ).catch((err: unknown) => err);
    assert.ok(service instanceof Error, 'a service with the wrong credentials must not become ready');
    assert.match(service.message, /Permissions Violation/);
  });
});
