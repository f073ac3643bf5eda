import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evidenceLines } from './alerts.ts';

describe('evidenceLines', () => {
  it('shows the detector, the conditions, each sample on a line, and why samples are missing', () => {
    assert.deepEqual(
      evidenceLines({
        detector: 'streaming-rule',
        score: 0.9312,
        window: { start: '2026-12-04T12:00:00.000Z', end: '2026-12-04T12:00:01.000Z' },
        conditions: [
          { feature: 'status_5xx', kind: 'threshold', value: 70, required: 10 },
          { feature: 'status_5xx', kind: 'zscore', value: 70, required: 5, baseline: 1, z: 23.14 },
        ],
        samples: [
          {
            time: '2026-12-04T12:00:00.010Z',
            source: { namespace: 'web', workload: 'frontend', address: '10.0.0.7' },
            destination: { namespace: 'shop', workload: 'cart', port: 8080 },
            protocol: 'http',
            method: 'GET',
            path: '/cart/1',
            status: 503,
          },
        ],
      }),
      [
        '    evidence: streaming-rule, score 0.931, window 2026-12-04T12:00:00.000Z to 2026-12-04T12:00:01.000Z',
        '      status_5xx 70 (threshold: required 10)',
        '      status_5xx 70 (zscore: required 5, baseline 1, z 23.1)',
        '      2026-12-04T12:00:00.010Z  10.0.0.7 web/frontend → shop/cart:8080  GET /cart/1  503',
      ],
    );
    assert.deepEqual(evidenceLines({ detector: 'query-rule', samples: [], samplesNote: 'none stored' }), [
      '    evidence: query-rule',
      '      (none stored)',
    ]);
  });
});
