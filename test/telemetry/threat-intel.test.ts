import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { alert, Bus, provision, StreamName, telemetryAccess } from '@warden/events';
import type { DataOf } from '@warden/events';
import type { RunningService } from '@warden/runtime';
import { runService } from '@warden/runtime';
import { detectorService } from '@warden/detector';
import { eventually, tempDir, useNats } from '@warden/testing';
import { detectorEnv, metricValue } from './helpers.ts';

describe('detector: threat-intelligence feeds raise alerts on listed sources', () => {
  const nats = useNats();
  const dir = tempDir('threat-intel');
  let detector: RunningService | undefined;
  afterEach(async () => {
    await detector?.stop('done');
    detector = undefined;
  });

  it('loads a feed with 10% malformed lines, reports them, and alerts on a listed address and identity', async () => {
    const lines = ['# local blocklist'];
    for (let i = 0; i < 100; i++) lines.push(i % 10 === 3 ? `bad-entry-${i}` : `198.18.${i}.0/24`);
    lines.push('203.0.113.0/24');
    const plain = join(dir, 'block.txt');
    writeFileSync(plain, `${lines.join('\n')}\n`);
    const ids = join(dir, 'ids.txt');
    writeFileSync(ids, 'spiffe://cluster.local/ns/evil/sa/miner\n');
    detector = await runService(
      detectorService,
      detectorEnv(nats.get(), {
        WARDEN_DETECTOR_RECEIVER_PORT: '0',
        WARDEN_DETECTOR_FEEDS: `local=plain:${plain},ids=spiffe:${ids},missing=firehol:${join(dir, 'nope.netset')}`,
        WARDEN_DETECTOR_THREAT_QUIET_MS: '2000',
      }),
    );
    const port = detector.httpPort;
    assert.equal(await metricValue(port, 'warden_detector_feed_malformed_lines', { feed: 'local' }), 10);
    assert.equal(await metricValue(port, 'warden_detector_feed_entries', { feed: 'local' }), 91);
    assert.equal(
      await metricValue(port, 'warden_detector_feed_loads_total', { feed: 'missing', outcome: 'failed' }),
      1,
    );

    const userNc = await nats.get().connect('user');
    const seen: { subject: string; data: DataOf<typeof alert> }[] = [];
    const sub = new Bus(userNc, { source: 'test-user' }).subscribe(alert, (event, subject) => {
      seen.push({ subject, data: event.data });
    });
    await userNc.flush();
    await provision(await nats.get().connect('admin'), { streams: [StreamName.telemetry] });
    const ingestNc = await nats.get().connect('telemetry-ingest');
    const ingest = new Bus(ingestNc, { source: 'ingest-test' });
    const record = (source: Record<string, string>) => ({
      time: new Date().toISOString(),
      source,
      destination: { namespace: 'shop', workload: 'cart' },
      protocol: 'http' as const,
      status: 200,
    });
    // The consumer starts at new messages: wait until it is attached before publishing.
    await eventually(
      async () => {
        await ingest.publish(
          telemetryAccess,
          { records: [record({ address: '192.0.2.1' })] },
          { qualifiers: { namespace: 'shop', workload: 'cart' } },
        );
        return (await metricValue(port, 'warden_bus_received_total')) > 0;
      },
      'the threat consumer to read',
      30_000,
      500,
    );
    await ingest.publish(
      telemetryAccess,
      {
        records: [
          record({ address: '203.0.113.77' }),
          record({ address: '203.0.113.77' }),
          record({
            principal: 'spiffe://cluster.local/ns/evil/sa/miner',
            namespace: 'evil',
            workload: 'miner',
          }),
          record({ address: '198.51.100.1' }),
        ],
      },
      { qualifiers: { namespace: 'shop', workload: 'cart' } },
    );
    const firing = await eventually(() => {
      const f = seen.filter((s) => s.data.status === 'firing');
      return f.length >= 2 ? f : undefined;
    }, 'two threat alerts');
    assert.ok(
      firing.every(
        (f) => f.subject === 'warden.alert.v1.critical.shop.cart' && f.data.rule === 'ThreatIntelMatch',
      ),
    );
    assert.deepEqual(firing.map((f) => f.data.labels['feed']).sort(), ['ids', 'local']);
    assert.equal(
      firing.find((f) => f.data.labels['feed'] === 'local')?.data.labels['source_address'],
      '203.0.113.77',
    );
    // The evidence is the listed call itself.
    const evidence = firing.find((f) => f.data.labels['feed'] === 'ids')?.data.evidence;
    assert.equal(evidence?.detector, 'threat-intel');
    assert.deepEqual(
      evidence?.samples?.map((r) => r.source.principal),
      ['spiffe://cluster.local/ns/evil/sa/miner'],
    );
    const resolved = await eventually(() => {
      const r = seen.filter((s) => s.data.status === 'resolved');
      return r.length >= 2 ? r : undefined;
    }, 'both to resolve once the sources are quiet');
    assert.deepEqual(resolved.map((r) => r.data.alertId).sort(), firing.map((f) => f.data.alertId).sort());
    assert.ok(
      resolved.every((r) => r.data.evidence === undefined),
      'resolutions do not repeat the evidence',
    );
    assert.equal(seen.length, 4, 'one firing and one resolved each, nothing for unlisted sources');
    sub.unsubscribe();
    await userNc.close();
    await ingestNc.close();
  });
});
