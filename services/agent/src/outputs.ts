import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { removeFile, writeFilesAtomic } from './files.ts';
import type { Bundle, Svid } from './svid.ts';
import { bundleText, chainText } from './svid.ts';

/**
 * The file names Istio's agent writes for file-watching consumers, kept for drop-in use, and the
 * CA's CRLs (root's, then intermediate's: a TLS stack told to check revocation checks every link).
 */
export const OutputFile = {
  chain: 'cert-chain.pem',
  key: 'key.pem',
  roots: 'root-cert.pem',
  crl: 'crl.pem',
} as const;

/** What to (re)write; absent parts keep their current files. */
export type Outputs = { svid?: Svid | null; bundle?: Bundle | null; crl?: string | null };

/**
 * Writes a workload's PEM files atomically (temporary files, then renames). The bundle and the
 * CRL are renamed first so a consumer that sees the new leaf can already verify peers with them,
 * then the chain, then the key, back to back. A consumer reading between those two renames sees a
 * chain and key that do not match; Node's createSecureContext and gRPC's file-watcher provider
 * refuse such a pair and keep the old one, and their next read gets the new pair.
 */
export async function writeOutputs(dir: string, { svid, bundle, crl }: Outputs): Promise<void> {
  const files: { path: string; data: string }[] = [];
  if (bundle) files.push({ path: join(dir, OutputFile.roots), data: bundleText(bundle) });
  if (crl) files.push({ path: join(dir, OutputFile.crl), data: crl });
  if (svid) {
    files.push({ path: join(dir, OutputFile.chain), data: chainText(svid) });
    files.push({ path: join(dir, OutputFile.key), data: svid.keyPem });
  }
  await writeFilesAtomic(files);
}

/** Deletes the key first (the secret), then the chain, bundle and CRL, then the folder if now empty. */
export async function removeOutputs(dir: string): Promise<void> {
  await removeFile(join(dir, OutputFile.key));
  await removeFile(join(dir, OutputFile.chain));
  await removeFile(join(dir, OutputFile.roots));
  await removeFile(join(dir, OutputFile.crl));
  await rmdir(dir).catch(() => undefined);
}
