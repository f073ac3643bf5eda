import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { translateReport } from './report.ts';

const NOW = Date.parse('2026-01-01T00:00:00.000Z');
const call = (over: Record<string, unknown> = {}) => ({
  start_unix_ms: String(NOW),
  direction: 'INBOUND',
  peer: { namespace: 'web', workload: 'frontend', principal: 'spiffe://cluster.local/ns/web/sa/frontend' },
  protocol: 'http',
  method: 'GET',
  path: '/a',
  status: 200,
  duration_ms: 4,
  bytes_received: '10',
  bytes_sent: '20',
  destination_port: 8080,
  ...over,
});

describe('translateReport', () => {
  it('turns calls into records from the reporter’s side, and counters into samples', () => {
    const out = translateReport(
      {
        reporter: { namespace: 'shop', workload: 'cart' },
        calls: [call(), call({ direction: 'OUTBOUND', peer: { namespace: 'data', workload: 'db' } })],
        counters: [
          {
            window_start_unix_ms: String(NOW),
            window_ms: 1000,
            direction: 'OUTBOUND',
            peer: { namespace: 'data', workload: 'db' },
            protocol: 'tcp',
            request_count: '5',
            client_error_count: '0',
            server_error_count: '1',
            bytes_received: '1',
            bytes_sent: '2',
            mean_duration_ms: 3,
          },
        ],
      },
      NOW,
    );
    assert.deepEqual(out.rejected, []);
    assert.deepEqual(out.records[0]?.source, {
      namespace: 'web',
      workload: 'frontend',
      principal: 'spiffe://cluster.local/ns/web/sa/frontend',
    });
    assert.deepEqual(out.records[0]?.destination, { namespace: 'shop', workload: 'cart', port: 8080 });
    assert.deepEqual(out.records[1]?.source, { namespace: 'shop', workload: 'cart' });
    assert.equal(out.records[1]?.destination.workload, 'db');
    assert.deepEqual(out.counters[0]?.source, { namespace: 'shop', workload: 'cart' });
    assert.equal(out.counters[0]?.status5xx, 1);
    assert.equal(out.counters[0]?.meanDurationMs, 3);
  });

  it('rejects each bad item with its reason and keeps the rest', () => {
    const out = translateReport(
      {
        reporter: { namespace: 'shop', workload: 'cart' },
        calls: [
          call(),
          call({ direction: 'DIRECTION_UNSPECIFIED' }),
          call({ start_unix_ms: String(NOW - 2 * 86_400_000) }),
          call({ protocol: 'smtp' }),
          call({ bytes_sent: '-1' }),
          call({ duration_ms: Number.NaN }),
        ],
        counters: [
          {
            window_start_unix_ms: String(NOW),
            direction: 'INBOUND',
            request_count: '1',
            server_error_count: '2',
          },
        ],
      },
      NOW,
    );
    assert.equal(out.records.length, 1);
    assert.deepEqual(
      out.rejected.map((r) => r.item),
      ['calls[1]', 'calls[2]', 'calls[3]', 'calls[4]', 'calls[5]', 'counters[0]'],
    );
    assert.match(out.rejected[5]?.reason ?? '', /more errors than requests/);
  });

  it('refuses a report without a valid reporter, or too large, as a whole', () => {
    assert.equal(
      translateReport({ reporter: { namespace: 'Not_A_Label', workload: 'x' }, calls: [call()] }, NOW).records
        .length,
      0,
    );
    const big = translateReport(
      { reporter: { namespace: 'a', workload: 'b' }, calls: Array.from({ length: 10_001 }, () => call()) },
      NOW,
    );
    assert.deepEqual([big.records.length, big.rejected[0]?.item], [0, 'report']);
  });
});
