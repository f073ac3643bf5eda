import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError, loadConfig } from './config.ts';
import { parseHostPorts, redisAuthConfigShape, redisConnectionOptions, redisTarget } from './redis.ts';

const schema = z.object({
  WARDEN_REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  ...redisAuthConfigShape,
});

describe('parseHostPorts', () => {
  it('reads host:port entries, names and IPv6 in brackets', () => {
    assert.deepEqual(parseHostPorts('127.0.0.1:26379, sentinel-b:26380,[::1]:26381'), [
      { host: '127.0.0.1', port: 26379 },
      { host: 'sentinel-b', port: 26380 },
      { host: '::1', port: 26381 },
    ]);
  });

  it('refuses a missing or out-of-range port, an empty entry and a repeat, naming the entry', () => {
    assert.throws(() => parseHostPorts('127.0.0.1'), /"127.0.0.1" is not host:port/);
    assert.throws(() => parseHostPorts('a:0'), /"a:0" is not host:port/);
    assert.throws(() => parseHostPorts('a:65536'), /"a:65536" is not host:port/);
    assert.throws(() => parseHostPorts('a:1,'), /"" is not host:port/);
    assert.throws(() => parseHostPorts('a:1,a:1'), /"a:1" is listed twice/);
    assert.throws(() => parseHostPorts('a b:1'), /is not host:port/);
  });
});

describe('redis connection settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-redis-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const passwordFile = join(dir, 'ca.pass');
  writeFileSync(passwordFile, 'secret\n', { mode: 0o600 });

  it('without Sentinels: the URL, the user and the password, as before', () => {
    const config = loadConfig('ca', schema, {
      WARDEN_REDIS_USER: 'ca',
      WARDEN_REDIS_PASSWORD_FILE: passwordFile,
    });
    assert.deepEqual(redisConnectionOptions(config), { username: 'ca', password: 'secret' });
    assert.equal(redisTarget(config), '127.0.0.1:6379');
  });

  it('with Sentinels: their list, the primary by name, the same credentials for both', () => {
    const config = loadConfig('ca', schema, {
      WARDEN_REDIS_SENTINELS: '127.0.0.1:26379,127.0.0.1:26380',
      WARDEN_REDIS_MASTER_NAME: 'warden-local',
      WARDEN_REDIS_USER: 'ca',
      WARDEN_REDIS_PASSWORD_FILE: passwordFile,
    });
    const options = redisConnectionOptions(config);
    assert.deepEqual(options.sentinels, [
      { host: '127.0.0.1', port: 26379 },
      { host: '127.0.0.1', port: 26380 },
    ]);
    assert.equal(options.name, 'warden-local');
    assert.equal(options.role, 'master');
    assert.deepEqual(
      [options.username, options.password, options.sentinelUsername, options.sentinelPassword],
      ['ca', 'secret', 'ca', 'secret'],
    );
    assert.equal(
      options.reconnectOnError?.(new Error('READONLY You can’t write against a read only replica.')),
      true,
    );
    assert.equal(options.reconnectOnError?.(new Error('NOPERM')), false);
    assert.equal(redisTarget(config), 'warden-local via sentinels 127.0.0.1:26379,127.0.0.1:26380');
  });

  it('reports a bad Sentinel list or primary name by variable', () => {
    assert.throws(
      () =>
        loadConfig('ca', schema, {
          WARDEN_REDIS_SENTINELS: '127.0.0.1:26379,127.0.0.1',
          WARDEN_REDIS_MASTER_NAME: 'no spaces',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(
          err.message,
          /WARDEN_REDIS_SENTINELS=".*": a comma-separated host:port list: "127.0.0.1" is not host:port/,
        );
        assert.match(err.message, /WARDEN_REDIS_MASTER_NAME="no spaces"/);
        return true;
      },
    );
  });
});
