import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeriesCounters } from './series.ts';

const record = {
  time: '2026-01-01T00:00:00.000Z',
  source: { namespace: 'web', workload: 'front end' },
  destination: { namespace: 'shop', workload: 'cart' },
  protocol: 'http' as const,
  status: 503,
  durationMs: 250,
  bytesReceived: 10,
  bytesSent: 20,
};

describe('SeriesCounters', () => {
  it('keeps cumulative counters and writes every live series each time, escaped', () => {
    const series = new SeriesCounters({ instance: 'ingest-1' });
    series.add(record, 1000);
    series.add(record, 1500);
    series.add({ ...record, decision: 'deny', reason: 'deny_matched' }, 1500);
    series.add({ ...record, decision: 'allow' }, 1500);
    const tags =
      'destination_namespace=shop,destination_workload=cart,instance=ingest-1,protocol=http,response_code=503,source_namespace=web,source_workload=front\\ end';
    assert.deepEqual(series.lines(2000).sort(), [
      `warden_denied_requests,destination_namespace=shop,destination_workload=cart,instance=ingest-1,reason=deny_matched,source_namespace=web,source_workload=front\\ end total=1 2000`,
      `warden_received_bytes,${tags} total=20 2000`,
      `warden_request_duration_seconds,${tags} sum=0.5,count=2 2000`,
      `warden_requests,${tags} total=2 2000`,
      `warden_sent_bytes,${tags} total=40 2000`,
    ]);
    assert.equal(series.lines(3000).length, 5, 'unchanged series are written again');
  });

  it('forgets idle series and refuses new ones past the bound', () => {
    const series = new SeriesCounters({ instance: 'i', idleMs: 1000, maxSeries: 4 });
    assert.equal(series.add(record, 0), 'ok');
    assert.equal(series.add({ ...record, status: 200 }, 0), 'overflow');
    assert.equal(series.lines(2000).length, 0);
    assert.equal(series.add({ ...record, status: 200 }, 2000), 'ok');
  });

  it('counts a call again, from zero, after its series went idle and were forgotten', () => {
    const series = new SeriesCounters({ instance: 'i', idleMs: 1000 });
    series.add(record, 0);
    series.add(record, 0);
    const requests = (at: number) => series.lines(at).filter((l) => l.startsWith('warden_requests,'));
    assert.match(requests(0)[0] ?? '', / total=2 0$/);
    assert.deepEqual(requests(5000), []);
    series.add(record, 6000);
    assert.match(requests(6000)[0] ?? '', / total=1 6000$/);
  });

  it('writes sidecar counters with the status class as response_code', () => {
    const series = new SeriesCounters({ instance: 'i' });
    series.addCounters(
      {
        timeMs: 0,
        source: { namespace: 'a', workload: 'b' },
        destination: { namespace: 'c', workload: 'd' },
        requests: 10,
        status4xx: 0,
        status5xx: 3,
        bytesIn: 1,
        bytesOut: 2,
      },
      'http',
      0,
    );
    const lines = series.lines(0).filter((l) => l.startsWith('warden_requests,'));
    assert.equal(lines.length, 2);
    assert.ok(lines.some((l) => l.includes('response_code=5xx') && l.includes(' total=3 ')));
    assert.ok(lines.some((l) => l.includes('response_code=2xx') && l.includes(' total=7 ')));
  });
});
