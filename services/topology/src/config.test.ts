import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baseConfig, ConfigError, loadConfig } from '@warden/runtime';
import { topologyConfig } from './config.ts';

const schema = baseConfig.extend(topologyConfig.shape);

describe('topology configuration', () => {
  it('has working defaults', () => {
    const config = loadConfig('topology', schema, {});
    assert.equal(config.WARDEN_TRUST_DOMAIN, 'cluster.local');
    assert.equal(config.WARDEN_TOPOLOGY_KUBERNETES, 'off');
    assert.equal(config.WARDEN_TOPOLOGY_GRAPH_BUCKET_SECONDS, 3600);
    assert.equal(config.WARDEN_TOPOLOGY_STATIC_FILE, undefined);
    assert.equal(config.WARDEN_TOPOLOGY_SNAPSHOT_INTERVAL_MS, 60_000);
  });

  it('takes a snapshot interval of 0 (off) or 100 ms to a day, and nothing else', () => {
    const interval = (value: string): number =>
      loadConfig('topology', schema, { WARDEN_TOPOLOGY_SNAPSHOT_INTERVAL_MS: value })
        .WARDEN_TOPOLOGY_SNAPSHOT_INTERVAL_MS;
    assert.equal(interval('0'), 0);
    assert.equal(interval('100'), 100);
    assert.equal(interval('86400000'), 86_400_000);
    // An empty value is refused rather than read as 0, which would silently stop the snapshots.
    for (const bad of ['', '50', '-1', '1.5', '1e3', 'soon', '86400001']) {
      assert.throws(
        () => interval(bad),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.deepEqual(err.problems, [
            `WARDEN_TOPOLOGY_SNAPSHOT_INTERVAL_MS=${JSON.stringify(bad)}: milliseconds: 0 (no snapshots) or 100 to 86400000`,
          ]);
          return true;
        },
        bad,
      );
    }
  });

  it('names every bad variable with its value', () => {
    assert.throws(
      () =>
        loadConfig('topology', schema, {
          WARDEN_TRUST_DOMAIN: 'Not A Domain',
          WARDEN_REDIS_URL: 'http://x',
          WARDEN_TOPOLOGY_HEARTBEAT_MISSED: '0',
          WARDEN_TOPOLOGY_GRAPH_BUCKET_SECONDS: 'hourly',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.problems.length, 4, err.message);
        assert.match(err.message, /WARDEN_TRUST_DOMAIN="Not A Domain": a SPIFFE trust domain/);
        assert.match(err.message, /WARDEN_REDIS_URL="http:\/\/x": a redis:\/\/ or rediss:\/\/ URL/);
        return true;
      },
    );
  });
});
