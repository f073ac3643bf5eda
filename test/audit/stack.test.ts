import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { publicKeyOfSeed } from '@warden/audit';
import type { VerifyReport } from '@warden/audit';
import { runCli } from '@warden/cli';
import { Bus, enforceRevoke, policySubmit, servicePrincipals } from '@warden/events';
import { connectNats } from '@warden/runtime';
import { seedFile } from '@warden/infra';
import { ephemeralPorts, Stack } from '@warden/local-stack';
import { captureOutput, tempDir } from '@warden/testing';

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * The done-when of the audit log on the local stack (`make up`): every service's chain verifies
 * after each service is killed with -9 and restarted, and it continues across a clean restart.
 */
describe('audit chains of the local stack', () => {
  const dir = tempDir('audit-stack');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('verifies every service’s chain after a kill -9 of each service and a restart of the stack', async () => {
    const ports = await ephemeralPorts();
    const stack = new Stack({ dir, ports, backoff: { initialMs: 100 } });
    const keys = join(dir, 'audit-keys.json');
    const verify = async (): Promise<VerifyReport> => {
      const run = await captureOutput((io) =>
        runCli(['audit', 'verify', '--identity', 'admin', '--public-keys', keys, '-o', 'json'], {
          io,
          env: { WARDEN_NATS_URL: stack.natsUrl, WARDEN_NKEY: seedFile(stack.credsDir, 'admin') },
        }),
      );
      const report = JSON.parse(run.out) as VerifyReport;
      assert.deepEqual([run.code, report.problems], [0, []], run.err);
      return report;
    };
    const serviceChains = servicePrincipals.map((name) => `${name}/${name}-local`).sort();
    try {
      await stack.start();
      writeFileSync(
        keys,
        JSON.stringify(
          Object.fromEntries(
            servicePrincipals.map((p) => [
              p,
              publicKeyOfSeed(readFileSync(seedFile(stack.credsDir, p), 'utf8')),
            ]),
          ),
        ),
      );
      // A policy change and a revocation, by a person: each lands in its service's chain.
      const user = await connectNats({
        url: stack.natsUrl,
        principal: 'user',
        instance: 'test-user',
        seedFile: seedFile(stack.credsDir, 'user'),
      });
      const people = new Bus(user, { source: 'test-user' });
      // The revocation must have happened before the kills: a request still in flight when the CA
      // dies is redelivered only after the consumer's ack wait, later than this test looks.
      const admin = new Bus(
        await connectNats({
          url: stack.natsUrl,
          principal: 'admin',
          instance: 'test-admin',
          seedFile: seedFile(stack.credsDir, 'admin'),
        }),
        { source: 'test-admin' },
      );
      // Its audit record, the last thing the CA does for it, as it reaches the stream.
      const revoked = new Promise<void>((resolve) => {
        admin.nc.subscribe('warden.audit.v1.record.ca.>', {
          callback: (_err, msg) => {
            if (msg.string().includes('"ca.revoke"')) resolve();
          },
        });
      });
      await admin.nc.flush();
      await people.publish(policySubmit, {
        kind: 'authorization-policy',
        text: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: shop }\nspec: { action: ALLOW, rules: [{}] }\n',
      });
      await people.publish(enforceRevoke, { serial: '0a1b2c', reason: 'lost laptop' });
      await revoked;
      await user.close();
      await admin.nc.close();
      for (const name of servicePrincipals) {
        const pid = stack.pid(name);
        assert.ok(pid, name);
        process.kill(pid, 'SIGKILL');
        // Generous: on a busy machine a restart (NATS reconnect, provisioning) can take a while.
        await until(
          `${name} back up`,
          () => {
            const unit = stack.status().find((c) => c.name === name);
            return (unit?.restarts ?? 0) >= 1 && unit?.state === 'ready';
          },
          180_000,
        );
      }
      // Each service's restart continued its own chain: its start audited twice, in one chain.
      let live: VerifyReport;
      const deadline = Date.now() + 30_000;
      for (;;) {
        live = await verify();
        if (live.chains.every((c) => c.records >= 2) && live.chains.length === servicePrincipals.length)
          break;
        assert.ok(Date.now() < deadline, `chains: ${JSON.stringify(live.chains)}`);
        await sleep(200);
      }
      assert.deepEqual(live.chains.map((c) => c.chain).sort(), serviceChains);
      const actions = await captureOutput((io) =>
        runCli(['audit', 'query', '--since', '1h', '--identity', 'admin', '-o', 'json'], {
          io,
          env: { WARDEN_NATS_URL: stack.natsUrl, WARDEN_NKEY: seedFile(stack.credsDir, 'admin') },
        }),
      );
      const seen = new Set(
        (JSON.parse(actions.out) as { principal: string; action: string }[]).map(
          (r) => `${r.principal} ${r.action}`,
        ),
      );
      for (const wanted of [
        'policy policy.commit',
        'ca ca.revoke',
        'enforcer service.start',
        'ca service.start',
      ])
        assert.ok(seen.has(wanted), `${wanted} is not in the audit log: ${[...seen].join(', ')}`);
    } finally {
      await stack.stop();
    }

    // A clean stop signed each chain's head; a new start continues each chain.
    const again = new Stack({ dir, ports });
    try {
      await again.start();
      const report = await verify();
      assert.deepEqual(report.chains.map((c) => c.chain).sort(), serviceChains);
      for (const chain of report.chains) {
        // start, start after the kill, stop, start again.
        assert.ok(chain.lastSeq >= 4, `${chain.chain}: ${JSON.stringify(chain)}`);
        assert.ok(chain.checkpointedSeq >= 3, `${chain.chain} was not signed at its clean stop`);
      }
    } finally {
      await again.stop();
    }
  });
});
