import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '@warden/cli';
import { alert, Bus, provision } from '@warden/events';
import { freePort, seedFile } from '@warden/infra';
import { useNats } from '@warden/testing';

type Result = { code: number; out: string; err: string };

describe('warden CLI against a real nats-server', () => {
  const nats = useNats();

  const cli = async (
    argv: string[],
    interrupted?: Promise<void>,
    onErr: (text: string) => void = () => undefined,
  ): Promise<Result> => {
    let out = '';
    let err = '';
    const identity = argv.includes('--identity') ? (argv[argv.indexOf('--identity') + 1] ?? 'user') : 'user';
    const code = await runCli(argv, {
      io: {
        out: (t) => (out += t),
        err: (t) => {
          err += t;
          onErr(t);
        },
      },
      env: { WARDEN_NATS_URL: nats.get().url, WARDEN_NKEY: seedFile(nats.get().credsDir, identity) },
      ...(interrupted ? { interrupted } : {}),
    });
    return { code, out, err };
  };

  it('publishes a validated policy submission as a person and tails alerts live', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_POLICY', 'WARDEN_ALERTS'] });

    const published = await cli([
      'events',
      'publish',
      'warden.policy.v1.submit',
      '{"kind":"rego","text":"package demo"}',
    ]);
    assert.deepEqual([published.code, published.err], [0, '']);
    assert.equal(published.out, 'stored in WARDEN_POLICY as #1\n');

    let listening: () => void = () => undefined;
    const subscribed = new Promise<void>((r) => (listening = r));
    const tail = cli(
      ['events', 'tail', 'warden.alert.v1', 'severity=critical', '--count', '1'],
      undefined,
      (t) => {
        if (t.startsWith('listening on')) listening();
      },
    );
    await subscribed;
    const detector = new Bus(await nats.get().connect('detector'), { source: 'detector-test' });
    const raise = (severity: 'warning' | 'critical') =>
      detector.publish(
        alert,
        {
          alertId: `a-${severity}`,
          status: 'firing',
          severity,
          rule: 'scan',
          target: { namespace: 'shop', workload: 'cart' },
          summary: 'port scan',
          labels: {},
          startsAt: new Date().toISOString(),
        },
        { qualifiers: { severity, namespace: 'shop', workload: 'cart' } },
      );
    await raise('warning');
    await raise('critical');
    const result = await tail;
    assert.equal(result.code, 0);
    const lines = result.out.trim().split('\n');
    assert.equal(lines.length, 1);
    const event = JSON.parse(lines[0] ?? '') as { subject: string; data: { alertId: string } };
    assert.equal(event.subject, 'warden.alert.v1.critical.shop.cart');
    assert.equal(event.data.alertId, 'a-critical');
  });

  it('refuses an invalid payload before it reaches the bus, and a subject the identity does not own', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_POLICY', 'WARDEN_IDENTITY'] });
    const invalid = await cli([
      'events',
      'publish',
      'warden.policy.v1.submit',
      '{"kind":"python","text":""}',
    ]);
    assert.equal(invalid.code, 1);
    assert.match(
      invalid.err,
      /invalid payload for warden.policy.v1.submit: kind: "python" is not one of authorization-policy, rego, mesh-defaults, rollback \[invalid_payload\]/,
    );

    const refused = await cli([
      'events',
      'publish',
      'warden.identity.v1.revoked',
      '{"serials":["01"],"reason":"stolen"}',
    ]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /Permissions Violation for Publish to "warden.identity.v1.revoked"/);
  });

  it('says so when the identity may not read what it tails', async () => {
    const result = await cli(['events', 'tail', 'warden.identity.v1.issued']);
    assert.equal(result.code, 1);
    assert.match(result.err, /Permissions Violation for Subscription to "warden.identity.v1.issued"/);
  });

  it('uses $WARDEN_HOME/.warden/creds/user.nk from any directory, and says where it looked when it is missing', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_POLICY'] });
    const home = mkdtempSync(join(tmpdir(), 'warden-home-'));
    try {
      mkdirSync(join(home, '.warden', 'creds'), { recursive: true });
      copyFileSync(seedFile(nats.get().credsDir, 'user'), join(home, '.warden', 'creds', 'user.nk'));
      const publish = [
        'events',
        'publish',
        'warden.policy.v1.submit',
        '{"kind":"rego","text":"package demo"}',
      ];
      const run = async (env: NodeJS.ProcessEnv): Promise<Result> => {
        let out = '';
        let err = '';
        const code = await runCli(publish, {
          io: { out: (t) => (out += t), err: (t) => (err += t) },
          env: { WARDEN_NATS_URL: nats.get().url, ...env },
          cwd: tmpdir(),
        });
        return { code, out, err };
      };
      const found = await run({ WARDEN_HOME: home });
      assert.deepEqual([found.code, found.err], [0, '']);
      assert.match(found.out, /^stored in WARDEN_POLICY as #\d+\n$/);

      const missing = await run({ WARDEN_HOME: join(home, 'nowhere') });
      assert.equal(missing.code, 1);
      assert.ok(
        missing.err.includes(
          `no nkey: ${join(home, 'nowhere', '.warden', 'creds', 'user.nk')} does not exist`,
        ),
        missing.err,
      );
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('fails fast with a clear message when no server is there', async () => {
    const port = await freePort();
    let err = '';
    const started = Date.now();
    const code = await runCli(
      ['events', 'publish', 'warden.policy.v1.submit', '{"kind":"rego","text":"x"}'],
      {
        io: { out: () => undefined, err: (t) => (err += t) },
        env: { WARDEN_NATS_URL: `nats://127.0.0.1:${port}` },
      },
    );
    assert.equal(code, 1);
    assert.match(err, /warden: .*(ECONNREFUSED|CONNECTION_REFUSED|refused)/i);
    assert.ok(Date.now() - started < 10_000);
  });
});
