import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bus } from '@warden/events';
import { Registry } from 'prom-client';
import { createDetectorMetrics } from './metrics.ts';
import { SampleLookback } from './samples.ts';

// The bus's read is stood in for here, to reach the two paths a live server does not take on
// demand: a read that never answers, and one that fails. The reading itself is tested against
// nats-server in test/telemetry.
const query = {
  target: { namespace: 'shop', workload: 'cart' },
  direction: 'inbound' as const,
  startMs: Date.UTC(2026, 11, 4, 12),
  endMs: Date.UTC(2026, 11, 4, 12, 0, 1),
  rule: '5xx-storm',
  max: 5,
};

const lookbackOver = (scan: Bus['scan']) => {
  const registry = new Registry();
  const metrics = createDetectorMetrics(registry);
  const lookback = new SampleLookback({ bus: { scan } as unknown as Bus, metrics, budgetMs: 50 });
  const outcome = async (name: string): Promise<number> =>
    (await metrics.evidenceLookups.get()).values.find((v) => v.labels['outcome'] === name)?.value ?? 0;
  return { lookback, outcome };
};

describe('SampleLookback', () => {
  it('answers within its budget when the read hangs, and tells the read to stop', async () => {
    let signal: AbortSignal | undefined;
    const { lookback, outcome } = lookbackOver((_stream, options) => {
      signal = options.signal;
      return new Promise(() => undefined);
    });
    // It returns at all: the read never does.
    const found = await lookback.find(query);
    assert.deepEqual(found.samples, []);
    assert.match(found.note ?? '', /within the look-back's 50 ms/);
    assert.equal(signal?.aborted, true);
    assert.equal(await outcome('timeout'), 1);
  });

  it('sends the alert on with the reason when the read fails', async () => {
    const { lookback, outcome } = lookbackOver(() => Promise.reject(new Error('stream not found')));
    const found = await lookback.find(query);
    assert.deepEqual(found.samples, []);
    assert.match(found.note ?? '', /reading WARDEN_TELEMETRY failed \(stream not found\)/);
    assert.equal(await outcome('failed'), 1);
  });
});
