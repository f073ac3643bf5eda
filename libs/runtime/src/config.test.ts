import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { baseConfig, ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('applies defaults', () => {
    const config = loadConfig('ca', baseConfig, {});
    assert.equal(config.WARDEN_NATS_URL, 'nats://127.0.0.1:4222');
    assert.equal(config.WARDEN_HTTP_PORT, 0);
    assert.equal(config.WARDEN_LOG_LEVEL, 'info');
  });

  it('reports every bad value at once, naming the variable and the value', () => {
    const schema = baseConfig.extend({ WARDEN_CA_TTL_HOURS: z.coerce.number().int().positive() });
    assert.throws(
      () =>
        loadConfig('ca', schema, {
          WARDEN_HTTP_PORT: '70000',
          WARDEN_LOG_LEVEL: 'loud',
          WARDEN_NATS_URL: 'http://x',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.problems.length, 4);
        assert.match(err.message, /WARDEN_HTTP_PORT="70000"/);
        assert.match(err.message, /WARDEN_LOG_LEVEL="loud"/);
        assert.match(err.message, /WARDEN_NATS_URL="http:\/\/x": a nats:\/\/ or tls:\/\/ URL/);
        assert.match(err.message, /WARDEN_CA_TTL_HOURS=\(unset\)/);
        return true;
      },
    );
  });
});
