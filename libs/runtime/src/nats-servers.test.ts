import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baseConfig, ConfigError, loadConfig } from './config.ts';
import { parseNatsServers } from './nats-servers.ts';

describe('parseNatsServers', () => {
  it('reads one URL or a comma-separated list, trimming spaces', () => {
    assert.deepEqual(parseNatsServers('nats://127.0.0.1:4222'), ['nats://127.0.0.1:4222']);
    assert.deepEqual(parseNatsServers('nats://a:4222, tls://b:4223 ,nats://c:4224'), [
      'nats://a:4222',
      'tls://b:4223',
      'nats://c:4224',
    ]);
  });

  it('refuses an empty entry, another scheme, a path or a repeated server', () => {
    for (const bad of [
      '',
      'nats://a:4222,',
      'nats://a:4222,,nats://b:4222',
      'http://a:4222',
      'a:4222',
      'nats://a:4222/x',
      'nats://a:4222?x=1',
      'nats://a:4222,nats://a:4222',
    ])
      assert.equal(parseNatsServers(bad), null, bad);
  });

  it('is how WARDEN_NATS_URL is validated', () => {
    const list = 'nats://127.0.0.1:4222,nats://127.0.0.1:4223';
    assert.equal(loadConfig('ca', baseConfig, { WARDEN_NATS_URL: list }).WARDEN_NATS_URL, list);
    assert.throws(
      () => loadConfig('ca', baseConfig, { WARDEN_NATS_URL: 'nats://127.0.0.1:4222,redis://x:1' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /WARDEN_NATS_URL=".*": a nats:\/\/ or tls:\/\/ URL, or a comma-separated list of them/.test(
          err.message,
        ),
    );
  });
});
