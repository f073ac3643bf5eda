import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Envelope } from '@warden/events';
import { parsePlaybooks, PlaybookError, plan } from './playbooks.ts';

const file = `playbooks:
  - name: edge-5xx
    match: { rule: EdgeErrorRate, severity: [critical] }
    action: { deny: { from: source, to: target }, ttl: 15m }
  - name: behaviour
    match: { rule: [BehaviourScore], minScore: 0.85 }
    action: { quarantine: source, ttl: 1h }
  - name: watch-only
    match: { labels: { team: payments } }
    action: { quarantine: target, ttl: 10m }
    dryRun: true
`;

const alertOf = (rule: string, labels: Record<string, string>, status: 'firing' | 'resolved' = 'firing') =>
  ({
    id: 'ev-1',
    time: '2026-12-04T10:00:00Z',
    source: 'detector',
    schema: 'warden.alert.v1',
    data: {
      alertId: 'a-1',
      status,
      severity: 'critical',
      rule,
      target: { namespace: 'shop', workload: 'payment' },
      summary: 'too many 5xx',
      labels,
      startsAt: '2026-12-04T10:00:00Z',
    },
  }) as Envelope<never> as Parameters<typeof plan>[1];

describe('playbooks', () => {
  const playbooks = parsePlaybooks(file, 'playbooks.yaml');

  it('turns a matching firing alert into the containment its playbook names', () => {
    const [deny] = plan(
      playbooks,
      alertOf('EdgeErrorRate', { source_namespace: 'shop', source_workload: 'frontend' }),
    );
    assert.equal(deny?.event, 'deny');
    assert.deepEqual(deny?.data, {
      ruleId: 'playbook:edge-5xx:a-1',
      source: { workload: { namespace: 'shop', workload: 'frontend' } },
      destination: { workload: { namespace: 'shop', workload: 'payment' } },
      ttlSeconds: 900,
      reason: 'playbook edge-5xx: too many 5xx',
      alertId: 'a-1',
    });
  });

  it('needs the score, the side it acts on and a firing alert; dry runs say so', () => {
    const source = { source_namespace: 'shop', source_workload: 'cart' };
    assert.deepEqual(plan(playbooks, alertOf('BehaviourScore', { ...source, score: '0.84' })), []);
    assert.equal(
      plan(playbooks, alertOf('BehaviourScore', { ...source, score: '0.93' }))[0]?.event,
      'quarantine',
    );
    assert.deepEqual(plan(playbooks, alertOf('BehaviourScore', { score: '0.93' })), [], 'no source named');
    assert.deepEqual(plan(playbooks, alertOf('EdgeErrorRate', source, 'resolved')), []);
    assert.equal(plan(playbooks, alertOf('Other', { team: 'payments' }))[0]?.dryRun, true);
  });

  it('refuses a bad file naming each problem with its line', () => {
    assert.throws(
      () =>
        parsePlaybooks(
          'playbooks:\n  - name: Bad_Name\n    match: {}\n    action: { quarantine: target, ttl: soon }\n',
          'p.yaml',
        ),
      (err: unknown) =>
        err instanceof PlaybookError &&
        /p\.yaml:2:\d+: playbooks\.0\.name/.test(err.message) &&
        /p\.yaml:4:\d+/.test(err.message),
    );
    assert.throws(
      () =>
        parsePlaybooks(
          `${file}  - name: edge-5xx\n    match: {}\n    action: { quarantine: target, ttl: 1m }\n`,
          'p.yaml',
        ),
      /defined twice/,
    );
    assert.throws(
      () =>
        parsePlaybooks(
          'playbooks:\n  - name: x\n    match: {}\n    action: { quarantine: target, ttl: 31d }\n',
          'p.yaml',
        ),
      /ttl must be/,
    );
  });
});
