import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { Bus, provision, StreamName } from '@warden/events';
import type { TestNats } from '@warden/testing';
import { eventually, startTestNats } from '@warden/testing';
import { Registry } from 'prom-client';
import { createDetectorMetrics, SampleLookback } from '@warden/detector';

// The look-back against a real nats-server: one stopped with SIGSTOP (a read that never answers)
// and one without the stream (a read that fails).
const query = {
  target: { namespace: 'shop', workload: 'cart' },
  direction: 'inbound' as const,
  startMs: Date.now() - 60_000,
  endMs: Date.now(),
  rule: '5xx-storm',
  max: 5,
};

async function lookbackOn(nats: TestNats, budgetMs: number) {
  const registry = new Registry();
  const metrics = createDetectorMetrics(registry);
  const bus = new Bus(await nats.connect('detector'), { source: 'samples-test' });
  const lookback = new SampleLookback({ bus, metrics, budgetMs });
  const outcome = async (name: string): Promise<number> =>
    (await metrics.evidenceLookups.get()).values.find((v) => v.labels['outcome'] === name)?.value ?? 0;
  return { lookback, outcome };
}

describe('SampleLookback against nats-server', () => {
  let nats: TestNats;
  before(async () => {
    nats = await startTestNats();
  });
  after(async () => {
    await nats.stop();
  });

  it('sends the alert on with the reason when the read fails', async () => {
    const { lookback, outcome } = await lookbackOn(nats, 2000);
    const found = await lookback.find(query);
    assert.deepEqual(found.samples, []);
    assert.match(found.note ?? '', /reading WARDEN_TELEMETRY failed \(.*stream not found.*\)/);
    assert.equal(await outcome('failed'), 1);
  });

  it('answers within its budget while the server is stopped, and leaves no consumer behind', async () => {
    const admin = await nats.connect('admin');
    await provision(admin, { streams: [StreamName.telemetry] });
    const { lookback, outcome } = await lookbackOn(nats, 200);
    const pid = nats.server.child.pid;
    assert.ok(pid);
    process.kill(pid, 'SIGSTOP');
    let found;
    try {
      const started = Date.now();
      found = await lookback.find(query);
      assert.ok(Date.now() - started < 2000, 'answered while the server was still stopped');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.deepEqual(found.samples, []);
    assert.match(found.note ?? '', /within the look-back's 200 ms/);
    assert.equal(await outcome('timeout'), 1);
    // The read's consumer is gone once the server answers again: a stall leaks nothing.
    const jsm = await jetstreamManager(admin);
    await sleep(200);
    await eventually(
      async () => (await jsm.streams.info(StreamName.telemetry)).state.consumer_count === 0,
      'the look-back consumer deleted',
      10_000,
      100,
    );
  });
});
