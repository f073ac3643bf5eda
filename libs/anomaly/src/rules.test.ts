import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Feature } from './features.ts';
import { Random } from './random.ts';
import { RuleError, StreamingRules } from './rules.ts';

/** Ordinary traffic of one workload: ~50 requests a second, a few errors, a few peers. */
function normal(random: Random): Record<string, number> {
  const requests = random.poisson(50);
  const err4 = random.poisson(1);
  const err5 = random.poisson(0.3);
  return {
    [Feature.requests]: requests,
    [Feature.errors4xx]: err4,
    [Feature.errors5xx]: err5,
    [Feature.authFailures]: Math.min(err4, random.poisson(0.3)),
    [Feature.errorRate]: err5 / Math.max(1, requests),
    [Feature.bytesOut]: requests * 2000 * (0.8 + 0.4 * random.next()),
    [Feature.distinctPeers]: 1 + random.int(4),
    [Feature.distinctPorts]: 1,
    [Feature.denies]: random.poisson(0.05),
  };
}

function warmed(seconds = 120): { rules: StreamingRules; random: Random; t: number } {
  const rules = new StreamingRules();
  const random = new Random(7);
  let t = 0;
  for (; t < seconds; t++)
    assert.deepEqual(rules.observe({ key: 'shop/web', end: t * 1000, features: normal(random) }).hits, []);
  return { rules, random, t };
}

describe('StreamingRules', () => {
  const attacks: [string, (f: Record<string, number>) => void][] = [
    ['port-scan', (f) => (f[Feature.distinctPorts] = 120)],
    ['peer-scan', (f) => (f[Feature.distinctPeers] = 60)],
    ['5xx-storm', (f) => ((f[Feature.errors5xx] = 45), (f[Feature.errorRate] = 0.9))],
    ['deny-burst', (f) => (f[Feature.denies] = 40)],
    ['credential-stuffing', (f) => ((f[Feature.authFailures] = 60), (f[Feature.errors4xx] = 61))],
    ['exfiltration', (f) => (f[Feature.bytesOut] = 50_000_000)],
    ['request-surge', (f) => (f[Feature.requests] = 5000)],
  ];
  for (const [rule, inject] of attacks) {
    it(`fires ${rule} on the first window of the attack, with its evidence`, () => {
      const { rules, random, t } = warmed();
      const features = normal(random);
      inject(features);
      const { hits } = rules.observe({ key: 'shop/web', end: t * 1000, features });
      const hit = hits.find((h) => h.rule === rule);
      assert.ok(hit, `hits: ${hits.map((h) => h.rule).join(', ')}`);
      assert.ok(hit.score >= 0.5 && hit.score <= 1);
      assert.ok(hit.evidence.length >= 1);
      for (const e of hit.evidence) assert.equal(e.value, features[e.feature]);
    });
  }

  it('judges each key against its own baseline', () => {
    const rules = new StreamingRules();
    const random = new Random(1);
    // A busy gateway that always talks to 40 peers, and a quiet service.
    for (let t = 0; t < 100; t++) {
      rules.observe({
        key: 'gw',
        end: t,
        features: { ...normal(random), [Feature.distinctPeers]: 38 + random.int(5) },
      });
      rules.observe({ key: 'svc', end: t, features: normal(random) });
    }
    assert.deepEqual(
      rules.observe({ key: 'gw', end: 100, features: { ...normal(random), [Feature.distinctPeers]: 41 } })
        .hits,
      [],
    );
    const quiet = rules.observe({
      key: 'svc',
      end: 100,
      features: { ...normal(random), [Feature.distinctPeers]: 41 },
    });
    assert.deepEqual(
      quiet.hits.map((h) => h.rule),
      ['peer-scan'],
    );
  });

  it('keeps attack windows out of the baseline, so a long attack keeps firing', () => {
    const { rules, random, t } = warmed();
    for (let s = 0; s < 600; s++) {
      const features = { ...normal(random), [Feature.distinctPorts]: 100 };
      assert.ok(
        rules
          .observe({ key: 'shop/web', end: (t + s) * 1000, features })
          .hits.some((h) => h.rule === 'port-scan'),
        `second ${s}`,
      );
    }
  });

  it('catches a key that attacks from its first window, and leaves a quiet new key alone', () => {
    const rules = new StreamingRules();
    assert.deepEqual(rules.observe({ key: 'new', end: 0, features: normal(new Random(2)) }).hits, []);
    const hits = rules.observe({ key: 'attacker', end: 0, features: { [Feature.distinctPorts]: 500 } }).hits;
    assert.deepEqual(
      hits.map((h) => h.rule),
      ['port-scan'],
    );
  });

  it('raises nothing on ten minutes of ordinary traffic for 20 keys', () => {
    const rules = new StreamingRules();
    const random = new Random(11);
    let hits = 0;
    for (let t = 0; t < 600; t++)
      for (let k = 0; k < 20; k++)
        hits += rules.observe({ key: `k${k}`, end: t, features: normal(random) }).hits.length;
    assert.equal(hits, 0);
  });

  it('bounds its memory: keys beyond maxKeys (least recently seen first), features beyond maxFeatures', () => {
    const rules = new StreamingRules({ maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'a', 'd']) rules.observe({ key, end: 0, features: { requests: 1 } });
    assert.equal(rules.keys, 3);
    // Invented feature names beyond maxFeatures get no baseline, so they never get a z-score.
    const few = new StreamingRules({ maxFeatures: 2 });
    for (let t = 0; t < 40; t++)
      few.observe({ key: 'k', end: t, features: { a: 1 + (t % 2), b: 1 + (t % 3), c: 5 } });
    const { zscores } = few.observe({ key: 'k', end: 40, features: { a: 100, b: 100, c: 100 } });
    assert.ok((zscores['a'] ?? 0) > 10 && (zscores['b'] ?? 0) > 10);
    assert.equal(zscores['c'], 0);
  });

  it('refuses a rule that can never fire', () => {
    assert.throws(
      () => new StreamingRules({ rules: [{ name: 'x', severity: 'info', description: '', conditions: [] }] }),
      RuleError,
    );
    assert.throws(
      () =>
        new StreamingRules({
          rules: [
            {
              name: 'x',
              severity: 'info',
              description: '',
              conditions: [{ kind: 'rate', feature: 'requests', factor: 0.5, minIncrease: 1 }],
            },
          ],
        }),
      RuleError,
    );
  });
});
