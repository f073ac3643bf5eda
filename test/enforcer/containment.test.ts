import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli } from '@warden/cli';
import { alert, Bus, enforceDeny, provision } from '@warden/events';
import { enforcerService } from '@warden/enforcer';
import { freePort } from '@warden/infra';
import { runService } from '@warden/runtime';
import type { RunningService } from '@warden/runtime';
import { captureOutput, cliEnv, tempDir, testAlert, useNats } from '@warden/testing';
import type { CapturedOutput } from '@warden/testing';
import { startPolicyWithSubmitter } from '../policy/helpers.ts';
import { call, check, checkClient, enforcerEnv, frontend, payPolicy, reasonOf, until } from './helpers.ts';

describe('enforcer: containment from the bus', () => {
  const nats = useNats();
  const cli = (...argv: string[]): Promise<CapturedOutput> =>
    captureOutput((io) => runCli(argv, { io, env: cliEnv(nats.get()) }));

  it('enforces a quarantine and an emergency deny from warden commands, lifts them on expiry or release, keeps them across a restart', async () => {
    await provision(await nats.get().connect('admin'), { streams: ['WARDEN_TELEMETRY', 'WARDEN_IDENTITY'] });
    const { service: policyService, submit } = await startPolicyWithSubmitter(nats.get());
    const port = await freePort();
    const env = enforcerEnv(nats.get(), port, { WARDEN_ENFORCER_CONTAINMENT_SWEEP_MS: '200' });
    let enforcer: RunningService | undefined = await runService(enforcerService, env);
    const client = checkClient(port);
    try {
      assert.equal((await submit({ kind: 'authorization-policy', text: payPolicy })).type, 'committed');
      assert.equal(await until(client, null), null);

      // A person quarantines the frontend for one second: refused at once, allowed again after.
      const quarantined = await cli(
        'quarantine',
        'add',
        'shop/frontend',
        '--ttl',
        '1s',
        '--reason',
        'forensics',
      );
      assert.equal(quarantined.code, 0, quarantined.err);
      assert.equal(await until(client, 'quarantined'), 'quarantined');
      assert.equal(await until(client, null), null, 'the quarantine lifted itself');

      // An emergency deny of the edge, kept by a restarted enforcer, lifted by a release.
      const denied = await cli(
        'deny',
        'add',
        '--from',
        frontend,
        '--to',
        'shop/payment',
        '--ttl',
        '10m',
        '--reason',
        '5xx burst',
        '--id',
        'edge-1',
      );
      assert.equal(denied.code, 0, denied.err);
      assert.equal(await until(client, 'emergency_deny'), 'emergency_deny');
      const status = await cli('enforcer', 'status');
      assert.equal(status.code, 0, status.err);
      assert.match(status.out, /revision 1, 0 revoked serials, 1 containment rules/);
      assert.match(
        status.out,
        /edge-1 +deny +spiffe:\/\/warden\.local\/ns\/shop\/sa\/frontend +shop\/payment +\d+s +5xx burst/,
      );
      await enforcer.stop('restart');
      enforcer = undefined;
      enforcer = await runService(enforcerService, env);
      assert.equal(reasonOf(await check(client, call(frontend))), 'emergency_deny');
      assert.equal((await cli('deny', 'release', 'edge-1', '--reason', 'fixed')).code, 0);
      assert.equal(await until(client, null), null);

      // Bad input changes nothing: a deny naming neither side (it would stop the mesh), a
      // target that is none, a missing reason; published raw, the all-mesh deny is refused too.
      assert.equal((await cli('deny', 'add', '--ttl', '10m', '--reason', 'oops')).code, 2);
      assert.match(
        (await cli('quarantine', 'add', 'not a target', '--reason', 'x')).err,
        /is not <namespace>\/<workload>/,
      );
      assert.match((await cli('quarantine', 'add', 'shop/cart')).err, /--reason is required/);
      const user = new Bus(await nats.get().connect('user'), { source: 'person' });
      await user.publish(enforceDeny, { ruleId: 'everything', ttlSeconds: 600, reason: 'oops' });
      await sleep(300);
      assert.equal(await until(client, null), null);
      assert.match((await cli('enforcer', 'status')).out, /0 containment rules/);
    } finally {
      client.close();
      await enforcer?.stop('test');
      await policyService.stop('test');
    }
  });
});

describe('enforcer: started before the policy service', () => {
  const nats = useNats();

  it('denies no_revision until the policy bucket appears, then follows it without a restart', async () => {
    await provision(await nats.get().connect('admin'), { streams: ['WARDEN_TELEMETRY', 'WARDEN_IDENTITY'] });
    const port = await freePort();
    const enforcer = await runService(enforcerService, enforcerEnv(nats.get(), port));
    const client = checkClient(port);
    let policyService: RunningService | undefined;
    try {
      assert.equal(reasonOf(await check(client, call(frontend))), 'no_revision');
      const started = await startPolicyWithSubmitter(nats.get());
      policyService = started.service;
      assert.equal(
        (await started.submit({ kind: 'authorization-policy', text: payPolicy })).type,
        'committed',
      );
      assert.equal(await until(client, null), null);
    } finally {
      client.close();
      await enforcer.stop('test');
      await policyService?.stop('test');
    }
  });
});

describe('enforcer: playbooks turn alerts into containment', () => {
  const nats = useNats();

  it('quarantines the source an alert names, for the playbook TTL, and refuses a bad playbook file at start', async () => {
    await provision(await nats.get().connect('admin'), {
      streams: ['WARDEN_TELEMETRY', 'WARDEN_IDENTITY', 'WARDEN_ALERTS'],
    });
    const dir = tempDir('playbooks');
    const file = join(dir, 'playbooks.yaml');
    writeFileSync(
      file,
      'playbooks:\n  - name: behaviour\n    match: { rule: BehaviourScore, minScore: 0.85 }\n    action: { quarantine: source, ttl: 10m }\n',
    );
    const { service: policyService, submit } = await startPolicyWithSubmitter(nats.get());
    const port = await freePort();
    const env = enforcerEnv(nats.get(), port, { WARDEN_ENFORCER_PLAYBOOKS_FILE: file });
    const enforcer = await runService(enforcerService, env);
    const client = checkClient(port);
    try {
      assert.equal((await submit({ kind: 'authorization-policy', text: payPolicy })).type, 'committed');
      assert.equal(await until(client, null), null);
      const detector = new Bus(await nats.get().connect('detector'), { source: 'detector' });
      await detector.publish(
        alert,
        testAlert({
          alertId: 'b-1',
          rule: 'BehaviourScore',
          severity: 'critical',
          target: { namespace: 'shop', workload: 'payment' },
          labels: { score: '0.93', source_namespace: 'shop', source_workload: 'frontend' },
        }),
        { qualifiers: { severity: 'critical', namespace: 'shop', workload: 'payment' } },
      );
      assert.equal(await until(client, 'quarantined'), 'quarantined');

      writeFileSync(
        file,
        'playbooks:\n  - name: x\n    match: { colour: red }\n    action: { quarantine: target, ttl: 1m }\n',
      );
      await assert.rejects(
        runService(enforcerService, { ...env, WARDEN_ENFORCER_EXT_AUTHZ_PORT: '0' }),
        /playbooks\.yaml:3:\d+/,
      );
    } finally {
      client.close();
      await enforcer.stop('test');
      await policyService.stop('test');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
