import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Bus, enforceDeny, enforceQuarantine, enforceRelease, provision } from '@warden/events';
import { enforcerService } from '@warden/enforcer';
import { freePort, seedFile } from '@warden/infra';
import { runService } from '@warden/runtime';
import type { RunningService } from '@warden/runtime';
import { useNats } from '@warden/testing';
import { startPolicyWithSubmitter } from '../policy/helpers.ts';
import type { CheckClient } from './helpers.ts';
import { call, check, checkClient, frontend, payPolicy, reasonOf } from './helpers.ts';

/** Asks until the answer's reason is `want` (null: allowed), for at most about 5 s. */
async function until(client: CheckClient, want: string | null): Promise<string | null> {
  let reason: string | null = 'none yet';
  for (let i = 0; i < 250; i++) {
    const response = await check(client, call(frontend));
    reason = response.status.code === 0 ? null : (reasonOf(response) ?? 'unknown');
    if (reason === want) return reason;
    await sleep(20);
  }
  return reason;
}

describe('enforcer: containment from the bus', () => {
  const nats = useNats();

  it('enforces a quarantine and an emergency deny, lifts them on expiry or release, and keeps them across a restart', async () => {
    await provision(await nats.get().connect('admin'), { streams: ['WARDEN_TELEMETRY', 'WARDEN_IDENTITY'] });
    const { service: policyService, submit } = await startPolicyWithSubmitter(nats.get());
    const port = await freePort();
    const env = {
      WARDEN_NATS_URL: nats.get().url,
      WARDEN_NATS_SEED_FILE: seedFile(nats.get().credsDir, 'enforcer'),
      WARDEN_LOG_LEVEL: 'silent',
      WARDEN_ENFORCER_EXT_AUTHZ_PORT: String(port),
      WARDEN_ENFORCER_CONTAINMENT_SWEEP_MS: '200',
    };
    let enforcer: RunningService | undefined = await runService(enforcerService, env);
    const client = checkClient(port);
    try {
      assert.equal((await submit({ kind: 'authorization-policy', text: payPolicy })).type, 'committed');
      assert.equal(await until(client, null), null);

      // A person quarantines the frontend for one second: refused at once, allowed again after.
      const user = new Bus(await nats.get().connect('user'), { source: 'person' });
      const target = { workload: { namespace: 'shop', workload: 'frontend' } };
      await user.publish(enforceQuarantine, { target, ttlSeconds: 1, reason: 'forensics' });
      assert.equal(await until(client, 'quarantined'), 'quarantined');
      assert.equal(await until(client, null), null, 'the quarantine lifted itself');

      // An emergency deny of the edge, kept by a restarted enforcer, lifted by a release.
      await user.publish(enforceDeny, {
        ruleId: 'edge-1',
        source: { principal: frontend },
        destination: { workload: { namespace: 'shop', workload: 'payment' } },
        ttlSeconds: 600,
        reason: '5xx burst',
        alertId: 'a-1',
      });
      assert.equal(await until(client, 'emergency_deny'), 'emergency_deny');
      await enforcer.stop('restart');
      enforcer = undefined;
      enforcer = await runService(enforcerService, env);
      assert.equal(reasonOf(await check(client, call(frontend))), 'emergency_deny');
      await user.publish(enforceRelease, { ruleId: 'edge-1', reason: 'fixed' });
      assert.equal(await until(client, null), null);

      // A deny naming neither side would stop the mesh: refused, nothing changes.
      await user.publish(enforceDeny, { ruleId: 'everything', ttlSeconds: 600, reason: 'oops' });
      await sleep(300);
      assert.equal(await until(client, null), null);
    } finally {
      client.close();
      await enforcer?.stop('test');
      await policyService.stop('test');
    }
  });
});
