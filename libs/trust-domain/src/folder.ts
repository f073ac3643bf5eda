import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { z } from 'zod';
import { CaStateError } from './errors.ts';

/**
 * The trust domain's material on disk, in WARDEN_CA_DIR:
 *
 *   ca.json                  manifest, written last: its presence means the trust domain exists
 *   root.pem, intermediate.pem         generation 1's certificates (public)
 *   root.key.sealed, intermediate.key.sealed   their PKCS#8 keys sealed by the Kms (never in clear)
 *   root-<n>.pem, intermediate-<n>.pem, *-<n>.key.sealed   generation n ≥ 2, made by a rotation
 *   ca.lock                  while a writer changes the folder (lock.ts)
 *
 * Every file is written to a temporary name, fsynced and renamed, mode 0600, in a 0700 folder.
 * A first start interrupted before the manifest leaves no trust domain, and the next start
 * creates one afresh (nothing was published or issued under the half-made one). A rotation
 * interrupted before the manifest leaves unreferenced files that the next rotation overwrites.
 *
 * Only `init`, `rotate` and a first start write here, one at a time; a running CA only reads and
 * notices a new manifest (`manifestStamp`).
 */
export const Files = {
  manifest: 'ca.json',
  lock: 'ca.lock',
  rootCert: 'root.pem',
  rootKey: 'root.key.sealed',
  intermediateCert: 'intermediate.pem',
  intermediateKey: 'intermediate.key.sealed',
} as const;

export type Role = 'root' | 'intermediate';

/** The certificate and sealed key files of one generation of a role. */
export const fileNames = (role: Role, id: number): { cert: string; key: string } =>
  id === 1
    ? role === 'root'
      ? { cert: Files.rootCert, key: Files.rootKey }
      : { cert: Files.intermediateCert, key: Files.intermediateKey }
    : { cert: `${role}-${id}.pem`, key: `${role}-${id}.key.sealed` };

/** Creates the folder (0700) if it is not there. */
export function ensureFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export function readFolderFile(dir: string, file: string): string {
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch (cause) {
    throw new CaStateError(`${join(dir, file)} is missing or unreadable`, { cause });
  }
}

/** A JSON file of the folder, checked against its schema; `what` names it in the error. */
export function readFolderJson<T>(dir: string, file: string, schema: z.ZodType<T>, what: string): T {
  const text = readFolderFile(dir, file);
  try {
    return schema.parse(JSON.parse(text));
  } catch (cause) {
    throw new CaStateError(`${join(dir, file)} is not ${what}`, { cause });
  }
}

/**
 * Writes one file of the folder atomically (write-file-atomic: a temporary name, fsync, rename),
 * mode 0600, then fsyncs the folder so the rename itself survives a crash (a manifest naming a
 * file the crash lost would keep the CA from starting; write-file-atomic syncs only the file).
 * Run as root (an operator's `sudo warden ca rotate`), files are given to the folder's owner:
 * root-owned 0600 keys would be unreadable by the CA, which would keep serving the old generation.
 */
export async function writeFolderFile(dir: string, file: string, data: string): Promise<void> {
  const owner = statSync(dir);
  await writeFileAtomic(join(dir, file), data, {
    mode: 0o600,
    ...(process.getuid?.() === 0 ? { chown: { uid: owner.uid, gid: owner.gid } } : {}),
  });
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
