import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ensureCredentials } from './credentials.ts';
import { streamSpecs } from '@warden/events';
import { natsConfig, PEOPLE_JETSTREAM_LIMITS } from './nats.ts';
import { redisAclFile, sentinelAclLines } from './redis-acl.ts';
import type { RedisUser } from './redis-acl.ts';

const dir = mkdtempSync(join(tmpdir(), 'warden-cluster-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Accounts = Record<string, { jetstream?: { max_file?: number; max_memory?: number } }>;

describe('natsConfig for a cluster node', () => {
  const credentials = ensureCredentials(join(dir, 'creds'));
  const base = { port: 4222, monitorPort: 8222, storeDir: '/data', credentials };

  it('names the node and carries its cluster block', () => {
    const cluster = { name: 'warden', port: 6222, routes: ['nats-route://127.0.0.1:6223'] };
    const config = natsConfig({ ...base, serverName: 'warden-nats-2', cluster, replicas: 3 });
    assert.equal(config['server_name'], 'warden-nats-2');
    assert.deepEqual(config['cluster'], cluster);
    assert.equal(natsConfig(base)['cluster'], undefined);
    assert.equal(natsConfig(base)['server_name'], 'warden-local');
  });

  it("counts every replica against people's JetStream limits", () => {
    const one = (natsConfig(base)['accounts'] as Accounts)['PEOPLE_HISTORY']?.jetstream;
    const three = (natsConfig({ ...base, replicas: 3 })['accounts'] as Accounts)['PEOPLE_HISTORY']?.jetstream;
    assert.equal(one?.max_file, PEOPLE_JETSTREAM_LIMITS.max_file);
    assert.equal(three?.max_file, 3 * PEOPLE_JETSTREAM_LIMITS.max_file);
    assert.equal(three?.max_memory, 3 * PEOPLE_JETSTREAM_LIMITS.max_memory);
  });
});

describe('Sentinel ACL users', () => {
  const passwords = new Map<RedisUser, string>([
    ['ca', 'ca-secret'],
    ['topology', 'topology-secret'],
    ['admin', 'admin-secret'],
  ]);

  it('turns the default user off and lets a service only find the primary and the Sentinels', () => {
    const lines = sentinelAclLines(passwords);
    assert.equal(lines[0], 'user default off resetkeys resetchannels -@all');
    const ca = lines.find((l) => l.startsWith('user ca '));
    assert.ok(ca);
    assert.match(ca, / -@all /);
    assert.match(ca, /\+sentinel\|get-master-addr-by-name/);
    assert.doesNotMatch(ca, /\+@all|\+sentinel( |$)|ca-secret|~\*/);
    assert.match(lines.find((l) => l.startsWith('user admin ')) ?? '', /~\* &\* \+@all/);
    assert.ok(
      lines.every((l) => !/secret/.test(l)),
      'only password hashes',
    );
  });

  it("lets ioredis check a primary's ROLE on Redis", () => {
    assert.match(
      redisAclFile(passwords)
        .split('\n')
        .find((l) => l.startsWith('user ca ')) ?? '',
      /\+role/,
    );
  });

  it('refuses to write a user without a password', () => {
    assert.throws(() => sentinelAclLines(new Map([['admin', 'x']])), /no Redis password for ca/);
  });
});

describe('natsConfig: the file store', () => {
  const credentials = ensureCredentials(join(dir, 'creds-store'));

  it('holds every stream reservation and every account limit at once, as a restart checks them', () => {
    for (const replicas of [1, 3]) {
      const config = natsConfig({ port: 4222, monitorPort: 8222, storeDir: '/data', credentials, replicas });
      const limit = (config['jetstream'] as { max_file_store: number }).max_file_store;
      const streams = streamSpecs.reduce((sum, spec) => sum + Math.max(0, spec.maxBytes), 0);
      const accounts = Object.values(config['accounts'] as Accounts).reduce(
        (sum, account) => sum + Math.max(0, account.jetstream?.max_file ?? 0),
        0,
      );
      assert.ok(streams > 0 && accounts > 0);
      // Reserved in any order, with room left for the streams that reserve nothing.
      assert.ok(limit >= streams + accounts + 1024 ** 3, `${limit} < ${streams} + ${accounts} + 1 GiB`);
    }
  });
});
