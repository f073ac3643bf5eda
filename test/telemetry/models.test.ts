import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { runCli } from '@warden/cli';
import { alert, Bus, provision, StreamName, telemetryFeatures } from '@warden/events';
import type { DataOf } from '@warden/events';
import { freePort, seedFile } from '@warden/infra';
import { runService } from '@warden/runtime';
import { detectorService } from '@warden/detector';
import { ModelStore, modelMeta } from '@warden/model-store';
import { eventually, useNats } from '@warden/testing';
import { detectorEnv, metricValue } from './helpers.ts';

type Result = { code: number; out: string; err: string };

/** Ten seconds of an ordinary workload, with a daily-ish wave so there is something to learn. */
const tenSeconds = (i: number, scale: number): Record<string, number> => {
  const wave = 1 + 0.3 * Math.sin(i / 5);
  return {
    requests: Math.round(1000 * scale * wave),
    status_4xx: 10 + (i % 3),
    status_5xx: i % 4,
    auth_failures: i % 5 === 0 ? 1 : 0,
    error_rate: (i % 4) / (1000 * scale * wave),
    latency_p50_ms: 20 + (i % 3),
    latency_p99_ms: 90 + (i % 7),
    bytes_in: Math.round(200_000 * scale * wave),
    bytes_out: Math.round(2_000_000 * scale * wave),
    distinct_peers: 3,
    distinct_paths: 6,
    distinct_ports: 1,
    denies: 0,
    out_requests: 100,
  };
};

describe('detector: behaviour models, versioned in the object store and swapped while running', () => {
  const nats = useNats();
  const running: { stop(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const r of running.reverse()) await r.stop();
    running.length = 0;
  });

  const cli = async (argv: string[], identity = 'admin'): Promise<Result> => {
    let out = '';
    let err = '';
    const code = await runCli(argv, {
      io: { out: (t) => (out += t), err: (t) => (err += t) },
      env: { WARDEN_NATS_URL: nats.get().url, WARDEN_NKEY: seedFile(nats.get().credsDir, identity) },
    });
    return { code, out, err };
  };

  it('trains from the feature stream, stores candidates, loads only what is promoted, and swaps without a restart', async () => {
    await provision(await nats.get().connect('admin'), { streams: [StreamName.telemetry] });
    const detector = await runService(
      detectorService,
      detectorEnv(nats.get(), { WARDEN_DETECTOR_RECEIVER_PORT: String(await freePort()) }),
    );
    running.push({ stop: () => detector.stop('done') });
    const inForce = (version: string) =>
      metricValue(detector.httpPort, 'warden_detector_model_info', { version });

    // History: 40 ten-second windows of two workloads, plus 1 s and edge windows that training skips.
    const ingest = new Bus(await nats.get().connect('telemetry-ingest'), { source: 'test-ingest' });
    const start = Math.floor(Date.now() / 10_000) * 10_000 - 3_600_000;
    const publish = async (workload: string, i: number, seconds: number, features: Record<string, number>) =>
      ingest.publish(
        telemetryFeatures,
        {
          windowStart: new Date(start + i * seconds * 1000).toISOString(),
          windowEnd: new Date(start + (i + 1) * seconds * 1000).toISOString(),
          windowSeconds: seconds,
          scope: 'workload',
          features,
        },
        { qualifiers: { namespace: 'shop', workload } },
      );
    for (let i = 0; i < 40; i++) {
      await publish('cart', i, 10, tenSeconds(i, 1));
      await publish('web', i, 10, tenSeconds(i, 0.2));
      await publish('web', i, 1, tenSeconds(i, 0.02));
    }

    // People may not reach the operator's model store.
    const refused = await cli(['detect', 'models', 'list'], 'user');
    assert.equal(refused.code, 2);
    assert.match(refused.err, /--identity admin/);

    const train = ['detect', 'train', '--from-stream', '--since', '1h', '--lookback', '4', '--epochs', '2'];
    const first = await cli(train);
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /stored behaviour-v1 \(candidate\)/);
    assert.match(first.err, /training on 80 windows of 2 workloads/);
    assert.match(first.err, /epoch 2\/2/);

    const listed = await cli(['detect', 'models', 'list', '-o', 'json']);
    const { versions } = JSON.parse(listed.out) as {
      versions: {
        version: number;
        status: string;
        keys: number;
        windowSeconds: number;
        trainedFrom: string;
      }[];
    };
    assert.deepEqual(
      versions.map((v) => [v.version, v.status, v.keys, v.windowSeconds]),
      [[1, 'candidate', 2, 10]],
    );
    assert.equal(versions[0]?.trainedFrom, new Date(start).toISOString());
    // A candidate is never run.
    assert.equal(await inForce('behaviour-v1'), 0);

    const noReason = await cli(['detect', 'models', 'promote', '1']);
    assert.equal(noReason.code, 2);
    assert.match(noReason.err, /--reason is required/);
    const promoted = await cli(['detect', 'models', 'promote', '1', '--reason', 'reviewed']);
    assert.equal(promoted.code, 0, promoted.err);
    await eventually(async () => (await inForce('behaviour-v1')) === 1, 'the detector to load v1', 20_000);

    // The model in force scores live 10 s windows once a workload has a lookback of them; a
    // window far from what it learned for that workload raises behaviour-baseline.
    const user = new Bus(await nats.get().connect('user'), { source: 'test-user' });
    const seen: DataOf<typeof alert>[] = [];
    const sub = user.subscribe(alert, (event) => void seen.push(event.data));
    running.push({ stop: async () => sub.unsubscribe() });
    const live = Math.floor(Date.now() / 10_000) * 10_000;
    for (let i = 0; i < 7; i++)
      await ingest.publish(
        telemetryFeatures,
        {
          windowStart: new Date(live + i * 10_000).toISOString(),
          windowEnd: new Date(live + (i + 1) * 10_000).toISOString(),
          windowSeconds: 10,
          scope: 'workload',
          features: i < 6 ? tenSeconds(i, 1) : { ...tenSeconds(i, 60), status_5xx: 20_000, denies: 5000 },
        },
        { qualifiers: { namespace: 'shop', workload: 'cart' } },
      );
    await eventually(
      async () => (await metricValue(detector.httpPort, 'warden_detector_baseline_scores_total')) >= 3,
      'live windows scored',
      20_000,
    );
    const anomaly = await eventually(
      () => seen.find((a) => a.rule === 'behaviour-baseline'),
      'a behaviour-baseline alert',
      20_000,
    );
    assert.deepEqual(anomaly.target, { namespace: 'shop', workload: 'cart' });
    assert.equal(anomaly.labels['model'], 'behaviour-v1');
    assert.ok(Number(anomaly.labels['score']) >= 0.85);
    assert.match(anomaly.summary, /departs from its learned behaviour/);

    // A second version, promoted, replaces the first in the running detector.
    const second = await cli([...train, '--seed', '2']);
    assert.equal(second.code, 0, second.err);
    assert.match(second.out, /stored behaviour-v2/);
    assert.equal(await inForce('behaviour-v2'), 0);
    assert.equal((await cli(['detect', 'models', 'promote', '2', '--reason', 'newer data'])).code, 0);
    await eventually(async () => (await inForce('behaviour-v2')) === 1, 'the detector to swap to v2', 20_000);
    assert.equal(await inForce('behaviour-v1'), 0);
    // The new model took over cart's recent windows: its next window is scored at once.
    const scores = await metricValue(detector.httpPort, 'warden_detector_baseline_scores_total');
    await ingest.publish(
      telemetryFeatures,
      {
        windowStart: new Date(live + 70_000).toISOString(),
        windowEnd: new Date(live + 80_000).toISOString(),
        windowSeconds: 10,
        scope: 'workload',
        features: tenSeconds(7, 1),
      },
      { qualifiers: { namespace: 'shop', workload: 'cart' } },
    );
    await eventually(
      async () =>
        (await metricValue(detector.httpPort, 'warden_detector_baseline_scores_total')) === scores + 1,
      'the next window scored by v2',
      20_000,
    );
    // An approved version that does not load is refused; the one in force stays.
    const store = await ModelStore.open(await nats.get().connect('admin'));
    const v2 = await store.version('behaviour', 2);
    const damaged = await store.put(
      modelMeta.omit({ version: true }).parse(v2),
      new TextEncoder().encode('not a model'),
    );
    assert.equal(damaged.version, 3);
    assert.equal((await cli(['detect', 'models', 'promote', '3', '--reason', 'looks fine'])).code, 0);
    await eventually(
      async () =>
        (await metricValue(detector.httpPort, 'warden_detector_model_loads_total', { outcome: 'failed' })) ===
        1,
      'the detector to refuse v3',
      20_000,
    );
    assert.equal(await inForce('behaviour-v2'), 1);
    assert.equal(await inForce('behaviour-v3'), 0);
    const shown = await cli(['detect', 'models', 'show', '2']);
    assert.match(shown.out, /status:\s+approved/);
    assert.match(shown.out, /approvalReason:\s+newer data/);
  });
});
