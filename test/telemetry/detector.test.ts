import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import type { Subscription } from '@nats-io/nats-core';
import { alert, Bus } from '@warden/events';
import type { DataOf } from '@warden/events';
import type { VmalertServer } from '@warden/infra';
import { freePort, repoRoot, startVmalert } from '@warden/infra';
import type { RunningService } from '@warden/runtime';
import { runService } from '@warden/runtime';
import { detectorService } from '@warden/detector';
import { eventually, tempDir, useNats, useVictoriaMetrics } from '@warden/testing';
import { telemetryIngestService } from '@warden/telemetry-ingest';
import { detectorEnv, httpEntry, ingestEnv, istioNode, sendAls } from './helpers.ts';

type Alert = DataOf<typeof alert>;

const RULES = join(repoRoot, 'services', 'detector', 'rules', 'mesh.rules.yml');

describe('detector: the founding design 5xx rule, evaluated by vmalert, becomes alerts', () => {
  const nats = useNats();
  const vm = useVictoriaMetrics();
  const dir = tempDir('detector');
  const running: { stop(): Promise<void> }[] = [];
  // Before the servers' own hooks stop NATS and VictoriaMetrics (hooks run in registration order).
  afterEach(async () => {
    for (const r of running.reverse()) await r.stop();
    running.length = 0;
  });

  it('fires on a storm on one edge only, and resolves after it', async () => {
    const grpcPort = await freePort();
    const ingest: RunningService = await runService(
      telemetryIngestService,
      ingestEnv(nats.get(), vm.get().url, grpcPort),
    );
    running.push({ stop: () => ingest.stop('done') });
    const tokenFile = join(dir, 'receiver.token');
    writeFileSync(tokenFile, 'test-token-7f3a\n', { mode: 0o600 });
    const receiverPort = await freePort();
    const detector = await runService(
      detectorService,
      detectorEnv(nats.get(), {
        WARDEN_DETECTOR_RECEIVER_PORT: String(receiverPort),
        WARDEN_DETECTOR_RECEIVER_TOKEN_FILE: tokenFile,
      }),
    );
    running.push({ stop: () => detector.stop('done') });
    const vmalert: VmalertServer = await startVmalert({
      dir,
      ruleFiles: [RULES],
      datasourceUrl: vm.get().url,
      notifierUrl: `http://127.0.0.1:${receiverPort}`,
      notifierTokenFile: tokenFile,
    });
    running.push(vmalert);

    // People follow alerts live on warden.alert.>, as `user`.
    const userNc = await nats.get().connect('user');
    const user = new Bus(userNc, { source: 'test-user' });
    const seen: { subject: string; data: Alert }[] = [];
    const sub: Subscription = user.subscribe(alert, (event, subject) => {
      seen.push({ subject, data: event.data });
    });

    // Traffic: web/frontend → shop/cart storms with 60 503s a second for 15 s; web/batch → shop/cart
    // fails once a second and web/frontend → shop/payments is healthy, all along.
    const stormUntil = Date.now() + 15_000;
    let sending = true;
    const traffic = (async () => {
      while (sending) {
        const now = Date.now();
        const cart = [
          ...(now < stormUntil
            ? Array.from({ length: 6 }, () => httpEntry('web/sa/frontend', 503, now))
            : []),
          ...(Math.floor(now / 100) % 10 === 0 ? [httpEntry('web/sa/batch', 500, now)] : []),
          httpEntry('web/sa/batch', 200, now),
        ];
        await sendAls(grpcPort, [
          { identifier: { node: istioNode('shop', 'cart'), log_name: 'w' }, http_logs: { log_entry: cart } },
        ]);
        await sendAls(grpcPort, [
          {
            identifier: { node: istioNode('shop', 'payments'), log_name: 'w' },
            http_logs: { log_entry: [httpEntry('web/sa/frontend', 200, now)] },
          },
        ]);
        await sleep(100);
      }
    })();
    try {
      const firing = await eventually(
        () => seen.find((s) => s.data.status === 'firing' && s.data.rule === 'EdgeServerErrors'),
        'the EdgeServerErrors alert to fire',
        120_000,
        250,
      );
      assert.equal(firing.subject, 'warden.alert.v1.critical.shop.cart');
      assert.equal(firing.data.rule, 'EdgeServerErrors');
      assert.deepEqual(firing.data.target, { namespace: 'shop', workload: 'cart' });
      assert.equal(firing.data.labels['source_workload'], 'frontend');
      assert.match(firing.data.summary, /web\/frontend →\s+shop\/cart/);
      // Its evidence: records of the storm read back from WARDEN_TELEMETRY, errors first.
      assert.equal(firing.data.evidence?.detector, 'query-rule');
      const samples = firing.data.evidence?.samples ?? [];
      assert.ok(samples.length > 0, JSON.stringify(firing.data.evidence));
      for (const r of samples) {
        assert.ok((r.status ?? 0) >= 500, JSON.stringify(r));
        assert.equal(r.destination.workload, 'cart');
      }

      const resolved = await eventually(
        () => seen.find((s) => s.data.status === 'resolved' && s.data.alertId === firing.data.alertId),
        'the alert to resolve once the storm is over',
        240_000,
        500,
      );
      assert.equal(resolved.data.alertId, firing.data.alertId);
      assert.ok(Date.parse(resolved.data.endsAt ?? '') >= stormUntil);
      // vmalert re-sends both every evaluation: each went out once, and nothing fired on the healthy
      // edges. The streaming rule saw the storm on the feature stream too, first, and also once.
      await sleep(3000);
      const lines = seen.map((s) => `${s.subject} ${s.data.rule} ${s.data.status}`);
      assert.deepEqual(lines.filter((l) => l.includes('EdgeServerErrors')).length, 2, JSON.stringify(lines));
      const streaming = lines.filter((l) => l.includes('5xx-storm'));
      assert.deepEqual(streaming, [
        'warden.alert.v1.warning.shop.cart 5xx-storm firing',
        'warden.alert.v1.warning.shop.cart 5xx-storm resolved',
      ]);
      const storm = seen.find((s) => s.data.rule === '5xx-storm' && s.data.status === 'firing');
      assert.equal(storm?.data.evidence?.detector, 'streaming-rule');
      assert.ok((storm?.data.evidence?.samples ?? []).length > 0, JSON.stringify(storm?.data.evidence));
      for (const r of storm?.data.evidence?.samples ?? []) assert.equal(r.status, 503, JSON.stringify(r));
      assert.ok(
        lines.indexOf(streaming[0] ?? '') <
          lines.indexOf(lines.find((l) => l.includes('EdgeServerErrors')) ?? ''),
      );
      assert.equal(seen.length, 4, JSON.stringify(lines));
    } finally {
      sending = false;
      await traffic;
      sub.unsubscribe();
      await userNc.close();
    }
  });

  it('will not start a receiver other hosts can reach without a token', async () => {
    const receiverPort = await freePort();
    await assert.rejects(
      runService(
        detectorService,
        detectorEnv(nats.get(), {
          WARDEN_DETECTOR_RECEIVER_HOST: '0.0.0.0',
          WARDEN_DETECTOR_RECEIVER_PORT: String(receiverPort),
        }),
      ),
      /WARDEN_DETECTOR_RECEIVER_HOST="0\.0\.0\.0": not a loopback address, so WARDEN_DETECTOR_RECEIVER_TOKEN_FILE must be set/,
    );
    // Nothing was left listening.
    await assert.rejects(fetch(`http://127.0.0.1:${receiverPort}/api/v2/alerts`));
  });

  it('refuses a notification without the token, or malformed, and publishes nothing', async () => {
    const tokenFile = join(dir, 'receiver2.token');
    writeFileSync(tokenFile, 'another-token\n', { mode: 0o600 });
    const receiverPort = await freePort();
    const detector = await runService(
      detectorService,
      detectorEnv(nats.get(), {
        WARDEN_DETECTOR_RECEIVER_PORT: String(receiverPort),
        WARDEN_DETECTOR_RECEIVER_TOKEN_FILE: tokenFile,
      }),
    );
    try {
      const url = `http://127.0.0.1:${receiverPort}/api/v2/alerts`;
      const alertBody = JSON.stringify([
        {
          labels: { alertname: 'Forged', severity: 'critical', namespace: 'shop', workload: 'cart' },
          startsAt: new Date().toISOString(),
        },
      ]);
      const post = (body: string, token?: string) =>
        fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body,
        });
      assert.equal((await post(alertBody)).status, 401);
      assert.equal((await post(alertBody, 'wrong-token')).status, 401);
      assert.equal((await post('{"not":"an array"}', 'another-token')).status, 400);
      assert.equal((await post('[{"labels":{}}]', 'another-token')).status, 400);
      assert.equal((await post('x'.repeat(5 * 1024 * 1024), 'another-token')).status, 413);
      const userNc = await nats.get().connect('user');
      const user = new Bus(userNc, { source: 'test-user' });
      const seen: string[] = [];
      const sub = user.subscribe(alert, (_event, subject) => {
        seen.push(subject);
      });
      assert.equal((await post(alertBody, 'another-token')).status, 200);
      await eventually(() => seen.length === 1, 'the authorised alert');
      assert.deepEqual(seen, ['warden.alert.v1.critical.shop.cart']);
      sub.unsubscribe();
      await userNc.close();
    } finally {
      await detector.stop('done');
    }
  });
});
