import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CaStateError } from './errors.ts';
import { Files } from './folder.ts';
import { withLock } from './lock.ts';

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ca-lock-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The shortest staleness proper-lockfile allows: the holder refreshes the lock every second.
const fast = { staleMs: 2000 };

describe('ca.lock', () => {
  it('stays with a live holder past the stale time, since the holder keeps it fresh', async () => {
    const dir = folder();
    await withLock(
      dir,
      async (lock) => {
        await sleep(3000);
        await assert.rejects(
          withLock(dir, async () => 'second writer', fast),
          CaStateError,
        );
        lock.assertHeld();
      },
      fast,
    );
    assert.ok(!existsSync(join(dir, Files.lock)), 'released');
    assert.equal(await withLock(dir, async () => 'next writer', fast), 'next writer');
  });

  it('tells a holder that lost its lock, before it commits', async () => {
    const dir = folder();
    await withLock(
      dir,
      async (lock) => {
        rmSync(join(dir, Files.lock), { recursive: true });
        await sleep(1500);
        assert.throws(() => lock.assertHeld(), CaStateError);
      },
      fast,
    );
  });
});
