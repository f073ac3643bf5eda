import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { removeFile, writeFilesAtomic } from './files.ts';
import type { Bundle, Svid } from './svid.ts';
import { bundleText, chainText } from './svid.ts';

/** The file names Istio's agent writes for file-watching consumers, kept for drop-in use. */
export const OutputFile = {
  chain: 'cert-chain.pem',
  key: 'key.pem',
  roots: 'root-cert.pem',
} as const;

/**
 * Writes a workload's PEM files atomically (temporary files, then renames). The bundle is renamed
 * first so a consumer that sees the new leaf can already verify peers with it, then the chain,
 * then the key, back to back. A consumer reading between those two renames sees a chain and key
 * that do not match; Node's createSecureContext and gRPC's file-watcher provider refuse such a
 * pair and keep the old one, and their next read gets the new pair.
 */
export async function writeOutputs(dir: string, svid: Svid | null, bundle: Bundle | null): Promise<void> {
  const files: { path: string; data: string }[] = [];
  if (bundle) files.push({ path: join(dir, OutputFile.roots), data: bundleText(bundle) });
  if (svid) {
    files.push({ path: join(dir, OutputFile.chain), data: chainText(svid) });
    files.push({ path: join(dir, OutputFile.key), data: svid.keyPem });
  }
  await writeFilesAtomic(files);
}

/** Deletes the key first (the secret), then the chain and bundle, then the folder if now empty. */
export async function removeOutputs(dir: string): Promise<void> {
  await removeFile(join(dir, OutputFile.key));
  await removeFile(join(dir, OutputFile.chain));
  await removeFile(join(dir, OutputFile.roots));
  await rmdir(dir).catch(() => undefined);
}
