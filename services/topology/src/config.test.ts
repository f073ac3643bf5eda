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
