import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CaStateError } from './errors.ts';
import { Files } from './folder.ts';
import { initTrustDomain, rotateTrustDomain } from './generations.ts';
import { withLock } from './lock.ts';
import type { StateOptions } from './material.ts';
import { readManifest, writeManifest } from './manifest.ts';
import { localKms } from './sealing.ts';

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

/** What a first generation leaves in the folder: no lock, no temporary file. */
const FIRST_GENERATION = [
  Files.intermediateCert,
  Files.intermediateKey,
  Files.manifest,
  Files.rootCert,
  Files.rootKey,
].sort();

const busy = (err: unknown): boolean =>
  err instanceof CaStateError && /is being changed by another process/.test(err.message);

describe('CA state folder: one writer at a time', () => {
  it('lets one of two concurrent inits create the trust domain; the other is refused', async () => {
    const o = options();
    const results = await Promise.allSettled([initTrustDomain(o), initTrustDomain(o)]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const [refused] = results.filter((r) => r.status === 'rejected');
    assert.ok(refused?.status === 'rejected' && refused.reason instanceof CaStateError);
    assert.match(
      String(refused.reason.message),
      /already holds a trust domain|is being changed by another process/,
    );
    assert.deepEqual(readdirSync(o.dir).sort(), FIRST_GENERATION, 'no lock or temporary file is left behind');
  });

  it('refuses while another writer holds the lock, and the refusal changes nothing', async () => {
    const o = options();
    await withLock(o.dir, async () => {
      await assert.rejects(initTrustDomain(o), busy);
    });
    assert.deepEqual(readdirSync(o.dir), [], 'nothing written, the lock released');

    await initTrustDomain(o);
    const manifest = readFileSync(join(o.dir, Files.manifest), 'utf8');
    await withLock(o.dir, async () => {
      await assert.rejects(rotateTrustDomain({ ...o, newRoot: true, activateAt: new Date() }), busy);
    });
    assert.equal(readFileSync(join(o.dir, Files.manifest), 'utf8'), manifest);
    assert.deepEqual(readdirSync(o.dir).sort(), FIRST_GENERATION);
  });

  it('counts a fresh lock as held, and takes over a stale one (its writer is gone)', async () => {
    const o = options();
    const lock = join(o.dir, Files.lock);
    // Another process's lock, refreshed just now.
    mkdirSync(lock);
    await assert.rejects(initTrustDomain(o), busy);
    assert.ok(!existsSync(join(o.dir, Files.manifest)));
    // Not refreshed for a minute: its writer was killed.
    const aMinuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, aMinuteAgo, aMinuteAgo);
    const created = await initTrustDomain(o);
    assert.equal(created.created, true);
    assert.deepEqual(readdirSync(o.dir).sort(), FIRST_GENERATION);
  });

  it('takes over a lock file of an earlier version whose process is gone, and respects a live one', async () => {
    const o = options();
    const lock = join(o.dir, Files.lock);
    writeFileSync(lock, `${process.ppid}\n`);
    await assert.rejects(initTrustDomain(o), busy);
    assert.ok(!existsSync(join(o.dir, Files.manifest)));
    // No process has this pid: Linux caps pids far below it.
    writeFileSync(lock, '2147483646\n');
    assert.equal((await initTrustDomain(o)).created, true);
    assert.deepEqual(readdirSync(o.dir).sort(), FIRST_GENERATION);
  });

  it('refuses, overwriting nothing, when another writer committed meanwhile (a stalled writer resumes)', async () => {
    const o = options();
    await initTrustDomain(o);
    const committedByOther = { cert: 'intermediate-2.pem', key: 'intermediate-2.key.sealed' };
    let sealed = 0;
    const kms = {
      ...o.kms,
      seal: async (plaintext: Uint8Array, context: string) => {
        // While this writer seals its new root, another (that took the lock over) commits
        // intermediate 2, the id this writer is about to use.
        if (sealed++ === 0) {
          writeFileSync(join(o.dir, committedByOther.cert), "the other writer's certificate");
          writeFileSync(join(o.dir, committedByOther.key), "the other writer's key");
          const manifest = readManifest(o.dir);
          await writeManifest(o.dir, {
            ...manifest,
            intermediates: [
              ...manifest.intermediates,
              { id: 2, root: 1, createdAt: manifest.createdAt, activateAt: manifest.createdAt },
            ],
          });
        }
        return o.kms.seal(plaintext, context);
      },
    };
    const before = readFileSync(join(o.dir, Files.manifest), 'utf8');
    await assert.rejects(
      rotateTrustDomain({ ...o, kms, newRoot: true, activateAt: new Date() }),
      (err: unknown) =>
        err instanceof CaStateError && /committed by another writer meanwhile/.test(err.message),
    );
    assert.notEqual(
      readFileSync(join(o.dir, Files.manifest), 'utf8'),
      before,
      "the other writer's manifest stays",
    );
    assert.equal(readManifest(o.dir).roots.length, 1, 'the refused root was not committed');
    assert.equal(readFileSync(join(o.dir, committedByOther.key), 'utf8'), "the other writer's key");
    assert.equal(readFileSync(join(o.dir, committedByOther.cert), 'utf8'), "the other writer's certificate");
  });

  it(
    'gives every file to the folder owner when run as root, mode 0600',
    { skip: process.getuid?.() !== 0 && 'not root' },
    async () => {
      const o = options();
      // Someone else's folder, as the CA's own user owns WARDEN_CA_DIR.
      chownSync(o.dir, 4242, 4243);
      await initTrustDomain(o);
      await rotateTrustDomain({ ...o, newRoot: true, activateAt: new Date() });
      for (const file of readdirSync(o.dir)) {
        const s = statSync(join(o.dir, file));
        assert.deepEqual([file, s.uid, s.gid, s.mode & 0o777], [file, 4242, 4243, 0o600]);
      }
    },
  );
});
