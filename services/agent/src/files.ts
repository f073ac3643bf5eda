import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CacheError } from './errors.ts';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** Writes the bytes to a fresh temporary file beside `path` (0600 from the start), flushed to disk. */
async function stage(path: string, data: string | Uint8Array): Promise<string> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', FILE_MODE);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  return temp;
}

/**
 * Writes files so that a reader sees each one either old or new, never torn: the bytes go to
 * temporary files in the same folder (same file system, so rename is atomic) and are flushed;
 * only then are they renamed over their targets, one right after the other. Staging everything
 * first shrinks the moment in which a reader could see one file new and another old to the gap
 * between two renames.
 */
export async function writeFilesAtomic(
  files: readonly { path: string; data: string | Uint8Array }[],
): Promise<void> {
  const staged: { temp: string; path: string }[] = [];
  try {
    for (const file of files) staged.push({ temp: await stage(file.path, file.data), path: file.path });
    for (const { temp, path } of staged) await rename(temp, path);
  } catch (err) {
    await Promise.all(staged.map(({ temp }) => unlink(temp).catch(() => undefined)));
    throw err;
  }
}

export const writeFileAtomic = (path: string, data: string | Uint8Array): Promise<void> =>
  writeFilesAtomic([{ path, data }]);

/** Reads a file of at most `maxBytes`; null when it does not exist. Never reads an oversized file. */
export async function readSmallFile(path: string, maxBytes: number): Promise<string | null> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CacheError(`cannot stat ${path}`, { cause: err });
  }
  if (size > maxBytes) throw new CacheError(`${path} is ${size} bytes; the limit is ${maxBytes}`);
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CacheError(`cannot read ${path}`, { cause: err });
  }
}

export const removeFile = (path: string): Promise<void> => rm(path, { force: true });
