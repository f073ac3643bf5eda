import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { evaluate } from './evaluate.ts';
import { AnomalyKind, generateSeries } from './generated.ts';
import { Random } from './random.ts';
import { SeriesDetector, TableDetector } from './series.ts';

const scoresOf = (values: readonly number[]): number[] => {
  const d = new SeriesDetector();
  return values.map((v) => d.update(v).score);
};

describe('SeriesDetector', () => {
  it('scores every value in [0, 1] and nothing during warm-up', () => {
    const random = new Random(3);
    const values = Array.from({ length: 500 }, () => random.normal() * 1e9);
    values[200] = 1e12;
    const scores = scoresOf(values);
    assert.ok(scores.every((s) => s >= 0 && s <= 1));
    assert.ok(scores.slice(0, 30).every((s) => s === 0));
    assert.ok((scores[200] ?? 0) > 0.9);
  });

  it('scores any finite input in [0, 1], huge, tiny, repeated or missing', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.double({ min: -1e300, max: 1e300, noNaN: true }),
            fc.constantFrom(0, 1, 1e-300, Number.NaN),
            fc.integer({ min: -3, max: 3 }),
          ),
          { minLength: 50, maxLength: 400 },
        ),
        (values) => {
          const d = new SeriesDetector({ warmup: 5 });
          for (const v of values) {
            const { score } = d.update(v);
            assert.ok(score >= 0 && score <= 1, `score ${score}`);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gives the same score to a value whatever comes after it (no look-ahead)', () => {
    const { values } = generateSeries(AnomalyKind.spike, 11, 1200);
    const full = scoresOf(values);
    const prefix = scoresOf(values.slice(0, 700));
    assert.deepEqual(prefix, full.slice(0, 700));
  });

  it('is unmoved by the unit of the series: scaled and shifted inputs score the same', () => {
    const { values } = generateSeries(AnomalyKind.levelShift, 5, 1500);
    const a = scoresOf(values);
    const b = scoresOf(values.map((v) => v * 1000 + 7));
    a.forEach((s, i) => assert.ok(Math.abs(s - (b[i] ?? 0)) < 1e-6, `row ${i}: ${s} vs ${b[i]}`));
  });

  it('scores a constant series 0, a change in it high, and the new constant 0 again soon after', () => {
    const values = [...Array.from({ length: 300 }, () => 4), ...Array.from({ length: 300 }, () => 9)];
    const scores = scoresOf(values);
    assert.ok(scores.slice(0, 300).every((s) => s === 0));
    assert.ok((scores[300] ?? 0) > 0.9);
    assert.ok(
      scores.slice(340).every((s) => s === 0),
      'the new level becomes normal',
    );
  });

  it('raises one alarm, at the change, when a constant starts to vary', () => {
    const random = new Random(1);
    const values = [
      ...Array.from({ length: 500 }, () => 0),
      ...Array.from({ length: 3000 }, () => 50 + 5 * random.normal()),
    ];
    const flagged = scoresOf(values).flatMap((s, i) => (s >= 0.5 ? [i] : []));
    assert.deepEqual(flagged, [500]);
  });

  it('skips missing values without losing its baseline', () => {
    const random = new Random(9);
    const d = new SeriesDetector();
    for (let i = 0; i < 300; i++) d.update(i % 10 === 0 ? Number.NaN : 100 + random.normal());
    assert.equal(d.update(Number.NaN).score, 0);
    assert.ok(d.update(100 + 40).score > 0.9);
  });

  // Precision, recall and delay on generated series of every kind; the floors are well below what
  // the detector reaches (printed below), so that they catch a regression, not noise.
  for (const kind of Object.values(AnomalyKind)) {
    it(`finds ${kind} anomalies on generated series, with few false alarms`, (t) => {
      let alarms = 0;
      let falseAlarms = 0;
      let detected = 0;
      let windows = 0;
      const delays: number[] = [];
      for (let seed = 1; seed <= 12; seed++) {
        const series = generateSeries(kind, seed * 7919, 3000);
        const e = evaluate(scoresOf(series.values), series.windows, { threshold: 0.5, tolerance: 10 });
        alarms += e.alarms;
        falseAlarms += e.falseAlarms;
        detected += e.byKind[kind]?.detected ?? 0;
        windows += e.byKind[kind]?.windows ?? 0;
        if (!Number.isNaN(e.byKind[kind]?.meanDelay ?? Number.NaN))
          delays.push(e.byKind[kind]?.meanDelay ?? 0);
      }
      const precision = alarms ? (alarms - falseAlarms) / alarms : 1;
      const recall = detected / windows;
      const delay = delays.reduce((a, b) => a + b, 0) / Math.max(1, delays.length);
      t.diagnostic(
        `${kind}: precision ${precision.toFixed(2)}, recall ${recall.toFixed(2)}, mean delay ${delay.toFixed(1)} steps`,
      );
      assert.ok(precision >= 0.8, `precision ${precision}`);
      const floor = {
        spike: 0.9,
        'level-shift': 0.6,
        'variance-change': 0.8,
        drift: 0.1,
        'seasonal-break': 0.4,
      }[kind];
      assert.ok(recall >= floor, `recall ${recall} below ${floor}`);
    });
  }
});

describe('SeriesDetector on clean series', () => {
  // Anomaly-free series of shapes real data has; an alarm run is a stretch of scores >= 0.5.
  const n = 10_000;
  const shapes: Record<string, (r: Random) => number[]> = {
    'random walk': (r) => {
      let x = 0;
      return Array.from({ length: n }, () => (x += r.normal()));
    },
    'AR(1) 0.99': (r) => {
      let x = 0;
      return Array.from({ length: n }, () => (x = 0.99 * x + r.normal()));
    },
    'noisy cycle': (r) =>
      Array.from({ length: n }, (_, t) => 10 * Math.sin((2 * Math.PI * t) / 288) + r.normal()),
    'integer readings': (r) => Array.from({ length: n }, () => Math.round(50 + 2 * r.normal())),
    trend: (r) => Array.from({ length: n }, (_, t) => t * 0.01 + r.normal()),
    'daily cycle with a weekend dip': (r) =>
      Array.from(
        { length: n },
        (_, t) => 100 + 30 * Math.sin((2 * Math.PI * t) / 48) + (t % 336 > 240 ? -40 : 0) + 5 * r.normal(),
      ),
  };
  for (const [shape, generate] of Object.entries(shapes)) {
    it(`raises at most a few alarms on a ${shape}`, (t) => {
      const d = new SeriesDetector();
      let runs = 0;
      let previous = false;
      for (const v of generate(new Random(42))) {
        const on = d.update(v).score >= 0.5;
        if (on && !previous) runs++;
        previous = on;
      }
      t.diagnostic(`${shape}: ${runs} alarm runs in ${n} values`);
      assert.ok(runs <= 8, `${runs} alarm runs`);
    });
  }
});

describe('TableDetector', () => {
  it('flags a row whose anomaly is in any one column', () => {
    const random = new Random(4);
    const d = new TableDetector(5);
    let last = 0;
    for (let i = 0; i < 400; i++) {
      const row = Array.from({ length: 5 }, (_, c) => 10 * c + random.normal());
      if (i === 399) row[3] = 30 + 50;
      last = d.update(row);
    }
    assert.ok(last > 0.9);
  });
});
