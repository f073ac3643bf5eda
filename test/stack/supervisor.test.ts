import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Bus, policyStatus, policySubmit, servicePrincipals } from '@warden/events';
import type { NatsConnection } from '@nats-io/nats-core';
import { seedFile } from '@warden/infra';
import { ephemeralPorts, Stack } from '@warden/local-stack';
import { connectNats } from '@warden/runtime';
import { tempDir } from '@warden/testing';

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Messages stored on one subject of a stream. */
async function countOn(jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('local stack supervisor', () => {
  const dir = tempDir('stack');
  after(() => rmSync(dir, { recursive: true, force: true }));
  // Connections are closed even when an assertion fails, or their reconnect loop would keep the
  // test process alive after the stack (and its nats-server) is gone.
  const connections: NatsConnection[] = [];
  const open = async (options: Parameters<typeof connectNats>[0]): Promise<NatsConnection> => {
    const nc = await connectNats(options);
    connections.push(nc);
    return nc;
  };
  const closeAll = async (): Promise<void> => {
    await Promise.all(connections.splice(0).map((nc) => nc.close().catch(() => undefined)));
  };

  it('restarts a killed service and a killed nats-server without losing an acknowledged event, and resumes its data', async () => {
    const ports = await ephemeralPorts();
    const events: string[] = [];
    const stack = new Stack({
      dir,
      ports,
      backoff: { initialMs: 100 },
      onEvent: (line) => events.push(line),
    });
    try {
      await stack.start();
      const status = stack.status();
      assert.equal(
        status.length,
        4 + servicePrincipals.length,
        'nats-server, redis-server, victoria-metrics, vmalert and every service',
      );
      assert.ok(status.every((c) => c.state === 'ready'));

      const nc = await open({
        url: stack.natsUrl,
        principal: 'user',
        instance: 'test-user',
        seedFile: seedFile(stack.credsDir, 'user'),
      });
      const bus = new Bus(nc, { source: 'test-user' });
      // Each submission is a new AuthorizationPolicy, so each must end as its own revision.
      const submit = (i: number): Promise<unknown> =>
        bus.publish(
          policySubmit,
          {
            kind: 'authorization-policy',
            text: `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: p${i}, namespace: shop }\nspec: { action: ALLOW, rules: [{}] }\n`,
          },
          { timeoutMs: 10_000 },
        );

      const total = 150;
      let acked = 0;
      for (let i = 0; i < total; i++) {
        if (i === 50) {
          const pid = stack.pid('policy');
          assert.ok(pid);
          process.kill(pid, 'SIGKILL');
          await until('policy shown down', () =>
            events.some((e) => /^policy down \(SIGKILL\); restarting in \d+ ms$/.test(e)),
          );
        }
        if (i === 100) {
          const pid = stack.pid('nats-server');
          assert.ok(pid);
          process.kill(pid, 'SIGKILL');
          await until('nats-server shown down', () => events.some((e) => e.startsWith('nats-server down')));
        }
        await submit(i);
        acked++;
      }
      assert.equal(acked, total);
      await until('policy back up', () => stack.status().find((c) => c.name === 'policy')?.state === 'ready');
      await until(
        'nats back up',
        () => stack.status().find((c) => c.name === 'nats-server')?.state === 'ready',
      );
      const policy = stack.status().find((c) => c.name === 'policy');
      assert.equal(policy?.restarts, 1);

      const admin = await open({
        url: stack.natsUrl,
        principal: 'admin',
        instance: 'test-admin',
        seedFile: seedFile(stack.credsDir, 'admin'),
      });
      const jsm = await jetstreamManager(admin);
      assert.equal(await countOn(jsm, 'WARDEN_POLICY', 'warden.policy.v1.submit'), total);
      // The killed consumer resumed where it stopped: every submitted policy is in force. (Revision
      // numbers may have gaps: a commit cut short by the NATS outage is retried under a new one.)
      const asAdmin = new Bus(admin, { source: 'test-admin' });
      let missing: string[] = [];
      await until(
        'every submission committed',
        async () => {
          await sleep(200);
          const status = await asAdmin.request(policyStatus, { policies: true }).catch(() => null);
          const keys = new Set(status?.policies?.map((p) => p.key) ?? []);
          missing = Array.from({ length: total }, (_, i) => `authorization-policy.shop.p${i}`).filter(
            (k) => !keys.has(k),
          );
          return missing.length === 0;
        },
        90_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; not in force: ${missing.join(', ')}`);
      });
      // Every service audited its start; the killed policy service audited a second one.
      await until('audit of the restart', async () => {
        const records = await jsm.streams.info('WARDEN_AUDIT', {
          subjects_filter: 'warden.audit.v1.record.>',
        });
        const started = Object.values(records.state.subjects ?? {}).reduce((a, b) => a + b, 0);
        return started >= servicePrincipals.length + 1;
      });
      await admin.close();
      await nc.close();
    } finally {
      await closeAll();
      await stack.stop();
    }
    assert.ok(stack.status().every((c) => c.state === 'stopped'));
    assert.ok(stack.status().every((c) => c.pid === null));

    // A second start on the same folder resumes with the same data.
    const again = new Stack({ dir, ports, services: ['policy'] });
    try {
      await again.start();
      const admin = await open({
        url: again.natsUrl,
        principal: 'admin',
        instance: 'test-admin',
        seedFile: seedFile(again.credsDir, 'admin'),
      });
      const jsm = await jetstreamManager(admin);
      assert.equal(await countOn(jsm, 'WARDEN_POLICY', 'warden.policy.v1.submit'), 150);
      await admin.close();
    } finally {
      await closeAll();
      await again.stop();
    }
  });

  it('leaves no process behind when stopped', async () => {
    const stopDir = tempDir('stack-stop');
    const stack = new Stack({
      dir: stopDir,
      ports: await ephemeralPorts(),
      services: ['detector', 'console'],
    });
    let pids: (number | null)[];
    try {
      await stack.start();
      pids = stack.status().map((c) => c.pid);
    } finally {
      await stack.stop();
      rmSync(stopDir, { recursive: true, force: true });
    }
    assert.equal(pids.length, 6, 'nats-server, redis-server, victoria-metrics, detector, console, vmalert');
    for (const pid of pids) {
      assert.ok(pid !== null);
      assert.equal(isAlive(pid), false, `pid ${pid} still running`);
    }
  });
});
