import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Feature } from './features.ts';
import { evaluateRules, figuresOf } from './mesh-eval.ts';
import type { MeshDataset } from './mesh.ts';
import { foldWindows, generateMeshDataset } from './mesh.ts';

describe('generateMeshDataset', () => {
  const options = { seed: 3, workloads: 6, hours: 2, perKind: 2 };

  it('refuses to place more attacks than the dataset has room for', () => {
    assert.throws(
      () => generateMeshDataset({ workloads: 1, hours: 0.2, perKind: 5 }),
      /no room for 5 attacks/,
    );
  });

  it('is the same for the same seed and different for another', () => {
    assert.deepEqual(generateMeshDataset(options), generateMeshDataset(options));
    assert.notDeepEqual(
      generateMeshDataset(options).attacks,
      generateMeshDataset({ ...options, seed: 4 }).attacks,
    );
  });

  it('puts attacks in the second half, apart on each workload, with features that are counts', () => {
    const d = generateMeshDataset(options);
    assert.equal(d.attacks.length, 12);
    for (const a of d.attacks) {
      assert.ok(a.start >= d.seconds / 2 && a.end < d.seconds && a.start <= a.end, JSON.stringify(a));
      for (const b of d.attacks)
        if (a !== b && a.key === b.key) assert.ok(a.end + 300 < b.start || b.end + 300 < a.start);
    }
    for (const rows of d.windows)
      for (const w of rows)
        for (const [name, v] of Object.entries(w)) assert.ok(v >= 0 && Number.isFinite(v), name);
  });
});

describe('foldWindows', () => {
  it('adds counts, keeps the largest p99 and distinct counts, and recomputes the error rate (5xx share)', () => {
    const folded = foldWindows([
      {
        [Feature.requests]: 10,
        [Feature.errors5xx]: 5,
        [Feature.errors4xx]: 0,
        [Feature.latencyP50Ms]: 10,
        [Feature.latencyP99Ms]: 50,
        [Feature.distinctPeers]: 3,
      },
      {
        [Feature.requests]: 30,
        [Feature.errors5xx]: 5,
        [Feature.errors4xx]: 10,
        [Feature.latencyP50Ms]: 20,
        [Feature.latencyP99Ms]: 40,
        [Feature.distinctPeers]: 2,
      },
    ]);
    assert.equal(folded[Feature.requests], 40);
    assert.equal(folded[Feature.errorRate], 0.25);
    assert.equal(folded[Feature.latencyP50Ms], 17.5);
    assert.equal(folded[Feature.latencyP99Ms], 50);
    assert.equal(folded[Feature.distinctPeers], 3);
  });
});

describe('figuresOf', () => {
  const dataset: MeshDataset = {
    keys: ['a', 'b'],
    seconds: 1000,
    startMs: 0,
    windows: [[], []],
    attacks: [
      { kind: 'port-scan', key: 'a', start: 600, end: 620, intensity: 1 },
      { kind: 'exfiltration', key: 'b', start: 700, end: 760, intensity: 1 },
    ],
  };

  it('counts an alert on the wrong workload as false, and times detection from the attack start', () => {
    const f = figuresOf(
      dataset,
      [
        { key: 0, start: 603, end: 603 },
        { key: 0, start: 605, end: 605 },
        { key: 0, start: 900, end: 900 },
        { key: 1, start: 610, end: 610 },
      ],
      { mergeGapS: 5, toleranceS: 10 },
    );
    assert.equal(f.alerts, 3);
    assert.equal(f.falseAlerts, 2);
    assert.equal(f.byKind['port-scan']?.detected, 1);
    assert.equal(f.byKind['port-scan']?.meanTimeToDetectS, 4);
    assert.equal(f.byKind['exfiltration']?.detected, 0);
    assert.deepEqual(f.detectedAttacks, [0]);
  });
});

describe('evaluateRules on the mesh', () => {
  it('raises no false alert and catches every attack of the rules’ kinds above half intensity', () => {
    const d = generateMeshDataset({ seed: 5, workloads: 6, hours: 2, perKind: 2 });
    const r = evaluateRules(d);
    assert.equal(r.falseAlerts, 0);
    d.attacks.forEach((a, i) => {
      if (a.kind !== 'slow-drift' && a.intensity >= 0.5)
        assert.ok(r.detectedAttacks.includes(i), `${a.kind} at intensity ${a.intensity.toFixed(2)} missed`);
    });
  });
});
