import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  alert,
  Bus,
  newEnvelope,
  ownedResources,
  policyStatus,
  provision,
  servicePrincipals,
} from '@warden/events';
import { binary, seedFile } from '@warden/infra';
import type { TestNats } from '@warden/testing';
import { testAlert, useNats } from '@warden/testing';

const run = promisify(execFile);

/** The README's `wnats`: the pinned nats CLI as `user`, with its inbox prefix. */
async function wnats(nats: TestNats, ...args: string[]): Promise<string> {
  const { stdout, stderr } = await run(
    binary('nats'),
    [
      '--server',
      nats.url,
      '--nkey',
      seedFile(nats.credsDir, 'user'),
      '--inbox-prefix',
      '_INBOX_user',
      ...args,
    ],
    { timeout: 15_000 },
  );
  return `${stdout}${stderr}`;
}

describe("the README's nats commands for people, with accounts on", () => {
  const nats = useNats();

  it('follows alerts live, reads their history, submits policy, asks for status; WARDEN streams stay out of reach', async () => {
    for (const name of servicePrincipals)
      await provision(await nats.get().connect(name), ownedResources(name));
    const detector = new Bus(await nats.get().connect('detector'), { source: 'detector' });
    const qualifiers = { severity: 'critical', namespace: 'shop', workload: 'cart' } as const;
    await detector.publish(alert, testAlert({ severity: 'critical' }), { qualifiers });

    // Live: alerts keep coming until the CLI, once subscribed, has seen one.
    let done = false;
    const live = wnats(nats.get(), 'sub', 'warden.alert.>', '--count', '1').finally(() => (done = true));
    for (let i = 0; !done && i < 100; i++) {
      await detector.publish(alert, testAlert({ severity: 'critical', alertId: `live-${i}` }), {
        qualifiers,
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.match(await live, /warden\.alert\.v1\.critical\.shop\.cart/);

    assert.match(await wnats(nats.get(), 'stream', 'get', 'WARDEN_ALERTS', '1'), /"alertId":"a1"/);
    const streams = await wnats(nats.get(), 'stream', 'ls');
    assert.match(streams, /WARDEN_ALERTS/);
    assert.match(streams, /WARDEN_AUDIT/);

    const admin = await jetstreamManager(await nats.get().connect('admin'));
    const submissions = async () =>
      (await admin.streams.info('WARDEN_POLICY', { subjects_filter: 'warden.policy.v1.submit' })).state
        .messages;
    const before = await submissions();
    await wnats(
      nats.get(),
      'pub',
      'warden.policy.v1.submit',
      JSON.stringify(newEnvelope('warden.policy.v1.submit', 'cli', { kind: 'rego', text: 'package x\n' })),
    );
    for (let i = 0; i < 50 && (await submissions()) === before; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(await submissions(), before + 1);

    const policy = new Bus(await nats.get().connect('policy'), { source: 'policy' });
    policy.serve(policyStatus, () => ({ revision: 4, rollout: [] }), { queue: 'policy' });
    await policy.nc.flush();
    const reply = await wnats(
      nats.get(),
      'req',
      'warden.policy.v1.status',
      JSON.stringify(newEnvelope('warden.policy.v1.status', 'cli', {})),
    );
    assert.match(reply, /"revision":4/);

    await assert.rejects(
      wnats(nats.get(), 'stream', 'info', 'WARDEN_POLICY'),
      /stream not found|permissions/i,
    );
  });
});
