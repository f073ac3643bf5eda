import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CaStateError } from './errors.ts';
import { localKms } from './kms.ts';
import { Files, initTrustDomain } from './state.ts';
import type { StateOptions } from './state.ts';

function options(): StateOptions {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ca-state-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    kms: localKms(randomBytes(32)),
    trustDomain: 'cluster.local',
    algorithm: 'ecdsa-p256',
    rootTtlDays: 30,
    intermediateTtlDays: 10,
    nameConstraints: true,
  };
}

describe('CA state folder: one writer at a time', () => {
  it('lets one of two concurrent inits create the trust domain; the other is refused', async () => {
    const o = options();
    const results = await Promise.allSettled([initTrustDomain(o), initTrustDomain(o)]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const [refused] = results.filter((r) => r.status === 'rejected');
    assert.ok(refused?.status === 'rejected' && refused.reason instanceof CaStateError);
    assert.match(String(refused.reason.message), /already holds a trust domain|is being changed by process/);
    assert.ok(!existsSync(join(o.dir, Files.lock)), 'the lock is released');
    assert.deepEqual(
      readdirSync(o.dir).filter((f) => f.startsWith(Files.lock)),
      [],
      'no lock or temporary lock file is left behind',
    );
  });

  it('refuses while a live process holds the lock, and takes over a dead one', async () => {
    const o = options();
    // This process is alive: its pid in the lock means "held".
    writeFileSync(join(o.dir, Files.lock), `${process.pid} someone-else\n`);
    await assert.rejects(initTrustDomain(o), /is being changed by process \d+/);
    assert.ok(!existsSync(join(o.dir, Files.manifest)));
    // An empty lock (a writer caught between create and write, in older code) counts as held.
    writeFileSync(join(o.dir, Files.lock), '');
    await assert.rejects(initTrustDomain(o), /is being changed by another process/);
    // No process has pid 2^22 + 1 here (above Linux's pid_max default): a stale lock.
    writeFileSync(join(o.dir, Files.lock), `${2 ** 22 + 1} gone\n`);
    const created = await initTrustDomain(o);
    assert.equal(created.created, true);
    assert.ok(!existsSync(join(o.dir, Files.lock)));
  });
});
