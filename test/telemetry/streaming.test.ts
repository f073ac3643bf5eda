import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  alert,
  Bus,
  provision,
  StreamName,
  telemetryAccess,
  telemetryDecision,
  telemetryFeatures,
} from '@warden/events';
import type { DataOf } from '@warden/events';
import { freePort } from '@warden/infra';
import { runService } from '@warden/runtime';
import { detectorService } from '@warden/detector';
import { eventually, useNats } from '@warden/testing';
import { detectorEnv, metricValue } from './helpers.ts';

type Alert = DataOf<typeof alert>;
type AccessRecord = DataOf<typeof telemetryAccess>['records'][number];
type Features = Record<string, number>;

/** An ordinary second of a workload, a little different each time. */
const normal = (i: number): Features => ({
  requests: 100 + (i % 7),
  status_4xx: i % 3,
  status_5xx: i % 5 === 0 ? 1 : 0,
  auth_failures: i % 11 === 0 ? 1 : 0,
  error_rate: i % 5 === 0 ? 0.01 : 0,
  latency_p50_ms: 20 + (i % 4),
  latency_p99_ms: 80 + (i % 9),
  bytes_in: 20_000 + 100 * (i % 5),
  bytes_out: 200_000 + 1000 * (i % 6),
  distinct_peers: 2 + (i % 2),
  distinct_paths: 4,
  distinct_ports: 1,
  denies: i % 13 === 0 ? 1 : 0,
  out_requests: 30 + (i % 4),
  out_status_4xx: 0,
  out_status_5xx: 0,
  out_auth_failures: 0,
  out_bytes_in: 9000,
  out_bytes_out: 3000,
  out_distinct_peers: 2,
  out_distinct_ports: 2,
  out_denies: 0,
});

describe('detector: streaming rules on the feature stream', () => {
  const nats = useNats();
  const running: { stop(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const r of running.reverse()) await r.stop();
    running.length = 0;
  });

  it('alerts on a deny burst, an error spike and a scan, once each, resolves them, and says nothing of a quiet workload', async () => {
    await provision(await nats.get().connect('admin'), { streams: [StreamName.telemetry] });
    const detector = await runService(
      detectorService,
      detectorEnv(nats.get(), {
        WARDEN_DETECTOR_RECEIVER_PORT: String(await freePort()),
        WARDEN_DETECTOR_RULES_WARMUP_WINDOWS: '20',
        WARDEN_DETECTOR_STREAM_QUIET_MS: '3000',
        WARDEN_DETECTOR_EXPIRY_INTERVAL_MS: '200',
      }),
    );
    running.push({ stop: () => detector.stop('done') });
    const user = new Bus(await nats.get().connect('user'), { source: 'test-user' });
    const seen: { subject: string; data: Alert }[] = [];
    const sub = user.subscribe(alert, (event, subject) => void seen.push({ subject, data: event.data }));
    running.push({ stop: async () => sub.unsubscribe() });

    const ingest = new Bus(await nats.get().connect('telemetry-ingest'), { source: 'test-ingest' });
    const start = Math.floor(Date.now() / 1000) * 1000 - 120_000;
    const publish = (workload: string, second: number, features: Features) =>
      ingest.publish(
        telemetryFeatures,
        {
          windowStart: new Date(start + second * 1000).toISOString(),
          windowEnd: new Date(start + (second + 1) * 1000).toISOString(),
          windowSeconds: 1,
          scope: 'workload',
          features,
        },
        { qualifiers: { namespace: 'shop', workload } },
      );
    const workloads = ['cart', 'web', 'scanner', 'quiet'];
    // A minute of ordinary traffic for every workload: the rules' baselines.
    for (let s = 0; s < 60; s++) for (const w of workloads) await publish(w, s, normal(s));
    // The data plane's records of the first attack second, stored before its features: web's
    // 5xx among ordinary calls, and the enforcer's denies of calls to cart.
    const attackAt = (ms: number): string => new Date(start + 60_000 + ms).toISOString();
    const call = (i: number, to: string, extra: Partial<AccessRecord>): AccessRecord => ({
      time: attackAt(10 * i),
      source: { namespace: 'shop', workload: 'client', address: '10.0.0.7' },
      destination: { namespace: 'shop', workload: to, port: 8080 },
      protocol: 'http',
      method: 'GET',
      path: `/p/${i}`,
      ...extra,
    });
    await ingest.publish(
      telemetryAccess,
      { records: Array.from({ length: 60 }, (_, i) => call(i, 'web', { status: i % 4 === 0 ? 503 : 200 })) },
      { qualifiers: { namespace: 'shop', workload: 'web' } },
    );
    const enforcer = new Bus(await nats.get().connect('enforcer'), { source: 'test-enforcer' });
    await enforcer.publish(
      telemetryDecision,
      {
        records: Array.from({ length: 20 }, (_, i) =>
          call(i, 'cart', { status: 403, decision: 'deny', reason: 'deny_matched' }),
        ),
      },
      { qualifiers: { namespace: 'shop', workload: 'cart' } },
    );
    // Then five seconds of attack on three of them; the quiet one goes on as before.
    for (let s = 60; s < 65; s++) {
      await publish('cart', s, { ...normal(s), denies: 80 });
      await publish('web', s, { ...normal(s), status_5xx: 70, error_rate: 0.7 });
      await publish('scanner', s, { ...normal(s), out_distinct_ports: 400, out_requests: 430 });
      await publish('quiet', s, normal(s));
    }

    const firing = (workload: string) =>
      seen.filter((a) => a.data.status === 'firing' && a.data.target.workload === workload);
    await eventually(
      () => firing('cart').length > 0 && firing('web').length > 0 && firing('scanner').length > 0,
      'an alert for each attacked workload',
      20_000,
      100,
    );
    const [deny] = firing('cart');
    assert.equal(deny?.subject, 'warden.alert.v1.warning.shop.cart');
    assert.equal(deny?.data.rule, 'deny-burst');
    assert.equal(deny?.data.labels['direction'], 'inbound');
    assert.match(deny?.data.summary ?? '', /denies 80/);
    const [storm] = firing('web');
    assert.equal(storm?.data.rule, '5xx-storm');
    assert.match(storm?.data.summary ?? '', /status_5xx 70/);
    // Their evidence: the rule's conditions over the first attack window, and sample records of
    // that window which show the attack (only 5xx to web, only denies of calls to cart).
    const stormEvidence = storm?.data.evidence;
    assert.equal(stormEvidence?.detector, 'streaming-rule');
    assert.deepEqual(stormEvidence?.window, { start: attackAt(0), end: attackAt(1000) });
    assert.ok(stormEvidence?.conditions?.some((c) => c.feature === 'status_5xx' && c.value === 70));
    assert.equal(stormEvidence?.samples?.length, 5);
    for (const r of stormEvidence?.samples ?? []) {
      assert.equal(r.status, 503);
      assert.equal(r.destination.workload, 'web');
    }
    assert.equal(deny?.data.evidence?.samples?.length, 5);
    for (const r of deny?.data.evidence?.samples ?? []) {
      assert.equal(r.decision, 'deny');
      assert.equal(r.destination.workload, 'cart');
    }
    // A scan by the workload is read on its outbound features; it also surges its requests.
    const scan = firing('scanner').find((a) => a.data.rule === 'port-scan');
    assert.equal(scan?.data.severity, 'critical');
    assert.equal(scan?.data.labels['direction'], 'outbound');
    // No records of the scanner's calls were stored: the alert says so instead.
    assert.deepEqual(scan?.data.evidence?.samples, []);
    assert.match(scan?.data.evidence?.samplesNote ?? '', /no outbound records of shop\/scanner/);
    assert.deepEqual(
      firing('scanner')
        .map((a) => a.data.rule)
        .sort(),
      ['port-scan', 'request-surge'],
    );

    // Each resolves once its rule has been quiet for WARDEN_DETECTOR_STREAM_QUIET_MS.
    const all = seen.filter((a) => a.data.status === 'firing');
    const resolved = (a: Alert) =>
      seen.filter((r) => r.data.status === 'resolved' && r.data.alertId === a.alertId).length;
    await eventually(
      () => all.every((a) => resolved(a.data) > 0),
      'the alerts to resolve after the attacks',
      20_000,
      100,
    );
    // Five attack windows, one episode per rule and workload: announced once, resolved once.
    assert.equal(all.length, 4);
    assert.equal(new Set(all.map((a) => `${a.data.target.workload} ${a.data.rule}`)).size, 4);
    for (const a of all) assert.equal(resolved(a.data), 1, a.data.rule);
    await sleep(500);
    assert.deepEqual(
      seen.filter((a) => a.data.target.workload === 'quiet'),
      [],
    );
  });

  it('gives every replica every window; the lease holder announces each change once, and a standby takes over', async () => {
    await provision(await nats.get().connect('admin'), { streams: [StreamName.telemetry] });
    // What a subscriber to the alert subjects sees live: every publish, stored or not.
    const live: string[] = [];
    const watcher = await nats.get().connect('admin');
    watcher.subscribe('warden.alert.v1.>', {
      callback: (_err, msg) => {
        live.push(`${msg.subject} ${(msg.json() as { data: { status: string } }).data.status}`);
      },
    });
    const replicas = [];
    for (let i = 0; i < 2; i++) {
      const replica = await runService(
        detectorService,
        detectorEnv(nats.get(), {
          WARDEN_INSTANCE: `detector-${i}`,
          WARDEN_DETECTOR_RECEIVER_PORT: String(await freePort()),
          WARDEN_DETECTOR_RULES_WARMUP_WINDOWS: '20',
          WARDEN_DETECTOR_STREAM_QUIET_MS: '2000',
          WARDEN_DETECTOR_EXPIRY_INTERVAL_MS: '200',
          WARDEN_DETECTOR_STANDBY_DELAY_MS: '1000',
        }),
      );
      const stop = { stop: () => replica.stop('done') };
      running.push(stop);
      replicas.push({ replica, stop });
    }
    const [first, second] = replicas;
    assert.ok(first && second);
    // The first started took the lease; the second stands by.
    assert.equal(await metricValue(first.replica.httpPort, 'warden_detector_lease_held'), 1);
    assert.equal(await metricValue(second.replica.httpPort, 'warden_detector_lease_held'), 0);

    const ingest = new Bus(await nats.get().connect('telemetry-ingest'), { source: 'test-ingest' });
    /** 60 normal windows, then 5 of a 5xx storm, for one workload. */
    const storm = async (workload: string): Promise<void> => {
      const start = Math.floor(Date.now() / 1000) * 1000 - 120_000;
      for (let s = 0; s < 65; s++)
        await ingest.publish(
          telemetryFeatures,
          {
            windowStart: new Date(start + s * 1000).toISOString(),
            windowEnd: new Date(start + (s + 1) * 1000).toISOString(),
            windowSeconds: 1,
            scope: 'workload',
            features: s < 60 ? normal(s) : { ...normal(s), status_5xx: 70, error_rate: 0.7 },
          },
          { qualifiers: { namespace: 'shop', workload } },
        );
    };
    await storm('web');
    for (const { replica } of replicas)
      await eventually(
        async () => (await metricValue(replica.httpPort, 'warden_detector_feature_windows_total')) === 65,
        'every window judged by every replica',
        20_000,
        100,
      );
    // Both judged the storm and its end alike; the holder announced them, once each.
    const webEvents = (): string[] =>
      live.filter((line) => line.startsWith('warden.alert.v1.warning.shop.web '));
    await eventually(() => webEvents().length >= 2, 'the storm alert and its resolution, live', 20_000, 100);
    await eventually(
      async () =>
        (await metricValue(second.replica.httpPort, 'warden_detector_standby_changes_total', {
          outcome: 'announced_by_holder',
        })) === 2,
      'the standby dropping both changes the holder announced',
      10_000,
      100,
    );
    assert.deepEqual(webEvents(), [
      'warden.alert.v1.warning.shop.web firing',
      'warden.alert.v1.warning.shop.web resolved',
    ]);
    const jsm = await jetstreamManager(await nats.get().connect('admin'));
    const info = await jsm.streams.info(StreamName.alerts, { subjects_filter: 'warden.alert.v1.>' });
    assert.equal(info.state.subjects?.['warden.alert.v1.warning.shop.web'], 2);

    // The holder stops (releasing the lease): the standby takes over and announces the next storm.
    await first.stop.stop();
    running.splice(running.indexOf(first.stop), 1);
    await eventually(
      async () => (await metricValue(second.replica.httpPort, 'warden_detector_lease_held')) === 1,
      'the standby taking the lease',
      10_000,
      100,
    );
    await storm('api');
    await eventually(
      () => live.filter((line) => line.startsWith('warden.alert.v1.warning.shop.api ')).length >= 2,
      'the next storm and its resolution, from the new holder',
      20_000,
      100,
    );
    await watcher.close();
  });
});
