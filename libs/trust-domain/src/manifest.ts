import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KeyAlgorithm } from '@warden/pki';
import { z } from 'zod';
import { CaStateError } from './errors.ts';
import { Files, readFolderJson, writeFolderFile } from './folder.ts';

const algorithm = z.enum([KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048]);
const isoTime = z.iso.datetime({ offset: true });
const manifestV1 = z.object({
  version: z.literal(1),
  trustDomain: z.string(),
  algorithm,
  createdAt: isoTime,
  bundleSequence: z.number().int().nonnegative(),
  kid: z.string(),
});
const manifestV2 = manifestV1.extend({
  version: z.literal(2),
  roots: z.array(z.object({ id: z.number().int().positive(), createdAt: isoTime })).min(1),
  intermediates: z
    .array(
      z.object({
        id: z.number().int().positive(),
        root: z.number().int().positive(),
        createdAt: isoTime,
        /** Issuing moves to this intermediate at this time (a rotation may schedule it ahead). */
        activateAt: isoTime,
      }),
    )
    .min(1),
});

/** `ca.json`: the trust domain and its generations; version 1 is read as version 2. */
export type Manifest = z.infer<typeof manifestV2>;

/** Version 1 (one generation, before rotation existed) reads as version 2 with generation 1. */
const manifestSchema = z.union([manifestV1, manifestV2]).transform((manifest): Manifest => {
  if (manifest.version === 2) return manifest;
  return {
    ...manifest,
    version: 2,
    roots: [{ id: 1, createdAt: manifest.createdAt }],
    intermediates: [{ id: 1, root: 1, createdAt: manifest.createdAt, activateAt: manifest.createdAt }],
  };
});

/** Whether `dir` holds a trust domain (its manifest is written last). */
export const hasManifest = (dir: string): boolean => existsSync(join(dir, Files.manifest));

/** Identifies the manifest's current version on disk; a running CA polls it to notice a rotation. */
export function manifestStamp(dir: string): string {
  try {
    const s = statSync(join(dir, Files.manifest));
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

export function readManifest(dir: string): Manifest {
  return readFolderJson(dir, Files.manifest, manifestSchema, 'a CA manifest');
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFolderFile(dir, Files.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
}

/** The refusal when `dir` holds no trust domain. */
export function noTrustDomain(dir: string): CaStateError {
  return new CaStateError(`${dir} holds no trust domain: run \`warden ca init\` or start the CA once`);
}
