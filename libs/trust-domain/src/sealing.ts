import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { KmsError } from './errors.ts';
import type { Role } from './folder.ts';

/**
 * Sealing of the CA's private keys at rest (ARCHITECTURE §3). A key is only ever written through a
 * `Kms`; the local implementation is AES-256-GCM under a key-encryption key (KEK) from the
 * environment or a file. A cloud KMS or HSM implements the same two calls.
 */
export type SealedBox = {
  readonly v: 1;
  readonly alg: 'A256GCM';
  /** Which KEK sealed it (a hash of the KEK, never the KEK): names the wrong-key case clearly. */
  readonly kid: string;
  readonly iv: string;
  readonly tag: string;
  readonly ct: string;
};

/** A sealed key file's content, as read back from disk. */
export const sealedBoxSchema = z.object({
  v: z.literal(1),
  alg: z.literal('A256GCM'),
  kid: z.string(),
  iv: z.string(),
  tag: z.string(),
  ct: z.string(),
});

export type Kms = {
  readonly keyId: string;
  /** Encrypts and authenticates `plaintext`, bound to `context` (it must be given again to open). */
  seal(plaintext: Uint8Array, context: string): Promise<SealedBox>;
  open(box: SealedBox, context: string): Promise<Buffer>;
};

export const KEK_BYTES = 32;

/**
 * The AAD of each sealed key: a root key file swapped in for an intermediate's, or one
 * generation's for another's, does not open.
 */
export const sealContext = (trustDomain: string, which: Role, generation = 1): string =>
  generation === 1
    ? `warden-ca/${trustDomain}/${which}-key`
    : `warden-ca/${trustDomain}/${which}-key/${generation}`;

const keyIdOf = (kek: Uint8Array): string =>
  createHash('sha256').update('warden-ca-kek-id\0').update(kek).digest('hex').slice(0, 16);

export function localKms(kek: Uint8Array): Kms {
  if (kek.length !== KEK_BYTES)
    throw new KmsError('kek_invalid', `the key-encryption key must be ${KEK_BYTES} bytes, got ${kek.length}`);
  const key = Buffer.from(kek);
  const keyId = keyIdOf(key);
  return {
    keyId,
    seal: async (plaintext, context) => {
      // A fresh 96-bit IV per seal; the CA seals a handful of keys in its life, far from GCM's limits.
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return {
        v: 1,
        alg: 'A256GCM',
        kid: keyId,
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        ct: ct.toString('base64'),
      };
    },
    open: async (box, context) => {
      if (box.v !== 1 || box.alg !== 'A256GCM')
        throw new KmsError(
          'unseal_failed',
          `unsupported sealed box (v ${String(box.v)}, ${String(box.alg)})`,
        );
      if (box.kid !== keyId)
        throw new KmsError(
          'wrong_kek',
          `sealed under key-encryption key ${box.kid}, but the configured one is ${keyId}`,
        );
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(box.iv, 'base64'));
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(Buffer.from(box.tag, 'base64'));
        return Buffer.concat([decipher.update(Buffer.from(box.ct, 'base64')), decipher.final()]);
      } catch (cause) {
        throw new KmsError(
          'unseal_failed',
          'sealed key failed authentication (tampered, or another context)',
          {
            cause,
          },
        );
      }
    },
  };
}

/** Decodes a KEK given as base64 text; exactly 32 bytes or a clear error. */
export function decodeKek(text: string, from: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed))
    throw new KmsError('kek_invalid', `${from}: the key-encryption key must be base64`);
  const kek = Buffer.from(trimmed, 'base64');
  if (kek.length !== KEK_BYTES)
    throw new KmsError(
      'kek_invalid',
      `${from}: the key-encryption key must decode to ${KEK_BYTES} bytes, got ${kek.length}`,
    );
  return kek;
}

/** Reads a KEK file: base64 text of 32 bytes. Refuses a file others can read. */
export function readKekFile(path: string): Buffer {
  let mode: number;
  let text: string;
  try {
    const stat = statSync(path);
    mode = stat.mode;
    // 4 KiB is far more than 44 characters of base64: anything bigger is the wrong file.
    if (stat.size > 4096) throw new KmsError('kek_invalid', `${path}: larger than 4 KiB; not a KEK file`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof KmsError) throw err;
    throw new KmsError('kek_invalid', `cannot read the key-encryption key file ${path}`, { cause: err });
  }
  if ((mode & 0o077) !== 0)
    throw new KmsError(
      'kek_invalid',
      `${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
    );
  return decodeKek(text, path);
}
