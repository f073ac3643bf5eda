import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '@warden/cli';
import { alert, Bus, provision } from '@warden/events';
import { repoRoot, seedFile } from '@warden/infra';
import { eventually, tempDir, testAlert, useNats, useVictoriaMetrics } from '@warden/testing';
import { forceFlush } from './helpers.ts';

type Result = { code: number; out: string; err: string };

describe('warden alerts tail and warden detect rules test, against real servers', () => {
  const nats = useNats();
  const vm = useVictoriaMetrics();
  const dir = tempDir('detect-cli');

  const cli = async (argv: string[], onErr: (text: string) => void = () => undefined): Promise<Result> => {
    let out = '';
    let err = '';
    const code = await runCli(argv, {
      io: {
        out: (t) => (out += t),
        err: (t) => {
          err += t;
          onErr(t);
        },
      },
      env: {
        WARDEN_NATS_URL: nats.get().url,
        WARDEN_NKEY: seedFile(nats.get().credsDir, 'user'),
        WARDEN_VICTORIA_METRICS_URL: vm.get().url,
      },
    });
    return { code, out, err };
  };

  it('tails only the asked severity, and refuses an unknown one', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_ALERTS'] });
    let listening: () => void = () => undefined;
    const subscribed = new Promise<void>((r) => (listening = r));
    const tail = cli(['alerts', 'tail', '--severity', 'critical', '--count', '1'], (t) => {
      if (t.startsWith('listening on')) listening();
    });
    await subscribed;
    const detector = new Bus(await nats.get().connect('detector'), { source: 'detector-test' });
    await detector.publish(alert, testAlert({ alertId: 'w1', severity: 'warning', rule: 'Quiet' }), {
      qualifiers: { severity: 'warning', namespace: 'shop', workload: 'cart' },
    });
    await detector.publish(
      alert,
      testAlert({ alertId: 'c1', severity: 'critical', rule: 'EdgeServerErrors', summary: 'storm' }),
      {
        qualifiers: { severity: 'critical', namespace: 'shop', workload: 'cart' },
      },
    );
    const result = await tail;
    assert.equal(result.code, 0);
    assert.match(result.err, /listening on warden\.alert\.v1\.critical\.\*\.\*/);
    assert.match(result.out, /firing\s+critical\s+EdgeServerErrors\s+shop\/cart\s+storm/);
    assert.doesNotMatch(result.out, /Quiet/);

    const bad = await cli(['alerts', 'tail', '--severity', 'loud']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--severity must be one of critical, warning, info/);
  });

  it('evaluates the default rule file now and prints only the edge that would fire', async () => {
    // Two samples a minute apart per edge: frontend → cart at 50 5xx/s, batch → cart at 1/s.
    const now = Date.now();
    const edge = (source: string) =>
      `source_namespace="web",source_workload="${source}",destination_namespace="shop",destination_workload="cart",response_code="503",protocol="http",instance="i1"`;
    const lines = [
      `warden_requests_total{${edge('frontend')}} 0 ${now - 60_000}`,
      `warden_requests_total{${edge('frontend')}} 3000 ${now - 1000}`,
      `warden_requests_total{${edge('batch')}} 0 ${now - 60_000}`,
      `warden_requests_total{${edge('batch')}} 60 ${now - 1000}`,
    ].join('\n');
    const res = await fetch(`${vm.get().url}/api/v1/import/prometheus`, {
      method: 'POST',
      body: `${lines}\n`,
    });
    assert.equal(res.status, 204);
    const rules = join(repoRoot, 'services', 'detector', 'rules', 'mesh.rules.yml');
    const result = await eventually(
      async () => {
        await forceFlush(vm.get().url);
        const r = await cli(['detect', 'rules', 'test', '-f', rules]);
        return r.out.includes('source_workload="frontend"') ? r : undefined;
      },
      'the storm edge to show',
      60_000,
      1000,
    );
    assert.equal(result.code, 0, result.err);
    assert.match(
      result.out,
      /EdgeServerErrors\s+5\d\.\d+\s+\{destination_namespace="shop", destination_workload="cart", severity="critical", source_namespace="web", source_workload="frontend"\}/,
    );
    assert.doesNotMatch(result.out, /source_workload="batch"/);
    assert.match(result.out, /EdgeDeniedBurst\s+-\s+nothing would fire/);
    assert.match(result.out, /2 alerting rules, 1 series would fire now/);

    const json = await cli(['detect', 'rules', 'test', '-f', rules, '-o', 'json']);
    const parsed = JSON.parse(json.out) as { rules: { alert: string; for?: string; firing: unknown[] }[] };
    assert.deepEqual(
      parsed.rules.map((r) => [r.alert, r.for, r.firing.length]),
      [
        ['EdgeServerErrors', '10s', 1],
        ['EdgeDeniedBurst', '10s', 0],
      ],
    );
  });

  it('refuses a broken rule file with vmalert’s reason, a missing file, and a missing -f', async () => {
    const broken = join(dir, 'broken.yml');
    writeFileSync(broken, 'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m] >\n');
    const bad = await cli(['detect', 'rules', 'test', '-f', broken]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /not a valid rule file/);
    assert.match(bad.err, /invalid expression for rule "A"/);
    const missing = await cli(['detect', 'rules', 'test', '-f', join(dir, 'nope.yml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /cannot read/);
    const noFile = await cli(['detect', 'rules', 'test']);
    assert.equal(noFile.code, 2);
    const unreachable = await cli([
      'detect',
      'rules',
      'test',
      '-f',
      join(repoRoot, 'services', 'detector', 'rules', 'mesh.rules.yml'),
      '--url',
      'http://127.0.0.1:1',
    ]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.err, /cannot reach the time-series database/);
  });
});
