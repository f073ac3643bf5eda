import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BaselineScorer, BehaviourModel, ModelError } from './lstm.ts';
import { Random } from './random.ts';

// A tiny, fast model: two keys, a smooth cycle with noise, few epochs. The point is the contract
// (shapes, calibration, bytes, determinism), not forecasting skill.
function history(seed: number, windows = 160): Map<string, Record<string, number>[]> {
  const random = new Random(seed);
  const series = (scale: number) =>
    Array.from({ length: windows }, (_, t) => ({
      requests: scale * (10 + 5 * Math.sin(t / 8)) + random.normal(),
      bytesOut: scale * 1000 * (10 + 5 * Math.sin(t / 8)) * (1 + 0.05 * random.normal()),
    }));
  return new Map([
    ['a', series(1)],
    ['b', series(20)],
  ]);
}

const options = { features: ['requests', 'bytesOut'], lookback: 6, epochs: 3, batchSize: 32, seed: 5 };

describe('BehaviourModel', { timeout: 300_000 }, () => {
  it('scores in [0, 1], higher for a window far from the forecast, and the same after a round trip through bytes', async () => {
    const model = await BehaviourModel.train(history(1), options);
    const recent = (history(2).get('a') ?? []).slice(0, 7);
    const normal = recent;
    const odd = [...recent.slice(0, 6), { requests: 400, bytesOut: 9e6 }];
    const [n, o] = model.scoreMany([
      { key: 'a', windows: normal },
      { key: 'a', windows: odd },
    ]);
    assert.ok(n && o);
    for (const s of [n, o]) assert.ok(s.score >= 0 && s.score <= 1);
    assert.ok(o.score >= 0.85, `odd window scored ${o.score}`);
    assert.ok(o.score > n.score);

    const bytes = await model.toBytes();
    const loaded = await BehaviourModel.fromBytes(bytes);
    const again = loaded.scoreMany([{ key: 'a', windows: odd }]);
    assert.ok(Math.abs((again[0]?.score ?? 0) - o.score) < 1e-6);
    assert.deepEqual(loaded.features, options.features);
    model.dispose();
    loaded.dispose();
  });

  it('trains the same model from the same seed and data', async () => {
    const a = await BehaviourModel.train(history(1), options);
    const b = await BehaviourModel.train(history(1), options);
    // The weights follow the header, whose length is the first four bytes (big-endian).
    const weights = (bytes: Uint8Array): Uint8Array =>
      bytes.slice(4 + new DataView(bytes.buffer).getUint32(0));
    assert.deepEqual(weights(await a.toBytes()), weights(await b.toBytes()));
    a.dispose();
    b.dispose();
  });

  it('scores streaming windows once a key has its lookback, each key on its own history', async () => {
    const model = await BehaviourModel.train(history(1), { ...options, epochs: 1 });
    const scorer = new BaselineScorer(model);
    const fresh = history(3);
    const results: (number | null)[] = [];
    for (let t = 0; t < 8; t++) {
      const out = scorer.observe([
        { key: 'a', features: fresh.get('a')?.[t] ?? {} },
        { key: 'b', features: fresh.get('b')?.[t] ?? {} },
      ]);
      results.push(out[0]?.score ?? null, out[1]?.score ?? null);
    }
    assert.ok(results.slice(0, 12).every((s) => s === null));
    assert.ok(results.slice(12).every((s) => typeof s === 'number'));
    // A scorer swapped in while running takes over the recent windows: it scores at once.
    const swapped = new BaselineScorer(model);
    swapped.adopt(scorer);
    assert.equal(swapped.keys, 2);
    assert.equal(
      typeof swapped.observe([{ key: 'a', features: fresh.get('a')?.[0] ?? {} }])[0]?.score,
      'number',
    );
    const bounded = new BaselineScorer(model, { maxKeys: 2 });
    for (const key of ['a', 'b', 'c', 'a']) bounded.observe([{ key, features: {} }]);
    assert.equal(bounded.keys, 2);
    model.dispose();
  });

  it('refuses too little history, and bytes that are not a model', async () => {
    await assert.rejects(
      BehaviourModel.train(new Map([['a', (history(1).get('a') ?? []).slice(0, 10)]]), options),
      ModelError,
    );
    await assert.rejects(BehaviourModel.fromBytes(new Uint8Array([0, 0, 0, 200, 1, 2])), ModelError);
    await assert.rejects(
      BehaviourModel.fromBytes(new TextEncoder().encode('\u0000\u0000\u0000\u0002{}')),
      ModelError,
    );
  });
});
