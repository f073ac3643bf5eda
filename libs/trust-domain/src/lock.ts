import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { codeOf, messageOf } from '@warden/core';
import { CaStateError } from './errors.ts';
import { Files } from './folder.ts';

/** Passed to the writer: it checks, right before its commit (the manifest), that it still holds the lock. */
export type HeldLock = { assertHeld(): void };

export type LockOptions = {
  /** A lock not refreshed for this long is stale and taken over (proper-lockfile's minimum is 2 s). */
  staleMs?: number;
};

/** A writer refreshes the lock every `staleMs / 2`; one gone (killed, crashed) stops refreshing. */
const STALE_MS = 10_000;

/**
 * One writer at a time: `warden ca init|rotate` and a CA's first start hold ca.lock while they
 * write, through proper-lockfile. The lock is a directory made with one mkdir (atomic: of two
 * writers exactly one creates it), whose mtime the holder refreshes; a lock not refreshed for
 * `staleMs` belongs to a writer that is gone and is taken over. A refused writer changes nothing.
 * A holder that lost its lock (it went stale under a blocked event loop, or was removed) learns it
 * from `assertHeld` before it writes the manifest, and refuses then. The lock is released (the
 * directory removed) when the writer is done, and on exit or a deadly signal.
 */
export async function withLock<T>(
  dir: string,
  write: (lock: HeldLock) => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const path = join(dir, Files.lock);
  removeLegacyLock(dir, path);
  // Loaded by writers only: a CA that just reads its folder never patches fs or hooks signals.
  const lockfile = await import('proper-lockfile');
  let lost: Error | undefined;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dir, {
      lockfilePath: path,
      stale: options.staleMs ?? STALE_MS,
      onCompromised: (err) => {
        lost = err;
      },
    });
  } catch (cause) {
    if (codeOf(cause) === 'ELOCKED') throw busy(dir, path, cause);
    throw new CaStateError(`cannot take the lock ${path}: ${messageOf(cause)}`, { cause });
  }
  const held: HeldLock = {
    assertHeld: () => {
      if (lost)
        throw new CaStateError(`lost the lock ${path} while writing; nothing was committed`, {
          cause: lost,
        });
    },
  };
  try {
    return await write(held);
  } finally {
    // Released already when lost: then the directory is another writer's, and stays.
    await release().catch(() => undefined);
  }
}

/**
 * Earlier versions locked with a file holding the writer's pid. Such a file blocks proper-lockfile
 * forever (it makes a directory there), so it is removed when its process is gone, and counts as
 * held while it lives.
 */
function removeLegacyLock(dir: string, path: string): void {
  let pid: number;
  try {
    if (!statSync(path).isFile()) return;
    pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
  } catch {
    return;
  }
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
    try {
      process.kill(pid, 0);
      throw busy(dir, path, new Error(`held by process ${pid} (an earlier version's lock file)`));
    } catch (err) {
      if (err instanceof CaStateError) throw err;
      // Alive but another user's: still held.
      if (codeOf(err) === 'EPERM') throw busy(dir, path, err);
    }
  }
  rmSync(path, { force: true });
}

function busy(dir: string, path: string, cause: unknown): CaStateError {
  let refreshed = '';
  try {
    refreshed = `, refreshed ${Math.max(0, Math.round((Date.now() - statSync(path).mtimeMs) / 1000))} s ago`;
  } catch {
    // Released meanwhile: the message only loses its detail.
  }
  return new CaStateError(
    `${dir} is being changed by another process (${path}${refreshed}); try again when it is done`,
    { cause },
  );
}
