import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { fromPublic, fromSeed } from '@nats-io/nkeys';
import { canonicalJson } from './canonical.ts';

/**
 * A writer's signed statement that its chain reached `seq` with the record hashed `hash`. It is
 * signed with the writer's NATS nkey (Ed25519): the key the server already authenticates that
 * principal with, whose public half is in the server configuration, so a verifier needs nothing
 * secret and nothing from Warden's CA to check it.
 */
export type Checkpoint = {
  principal: string;
  instance: string;
  seq: number;
  hash: string;
  /** When it was signed (ISO 8601). */
  at: string;
  /** Why: every N records, every T seconds, or the writer's clean stop. */
  reason: 'count' | 'interval' | 'stop';
  /** The signer's nkey public key (`U...`), which must be the principal's. */
  publicKey: string;
  /** Ed25519 signature (base64url) over the canonical JSON of every other member. */
  signature: string;
};

export type UnsignedCheckpoint = Omit<Checkpoint, 'publicKey' | 'signature'>;

const encoder = new TextEncoder();

const signedBytes = (cp: Omit<Checkpoint, 'signature'>): Buffer =>
  Buffer.from(canonicalJson({ ...cp, signature: undefined }));

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding, as nkeys writes it. */
function base32Decode(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new TypeError('not base32');
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/**
 * The raw 32-byte Ed25519 key inside an nkey: one prefix byte for a public key, two for a seed,
 * then the key and a CRC. nkeys itself checks the prefix and the CRC before this is called; the
 * signing and checking is Node's (OpenSSL), an order of magnitude faster than nkeys' own.
 */
const rawKey = (nkey: string, prefixBytes: 1 | 2): string =>
  base32Decode(nkey)
    .subarray(prefixBytes, prefixBytes + 32)
    .toString('base64url');

/** A signer holding one nkey seed (the `S...` text of a `.nk` file). */
export type CheckpointSigner = { readonly publicKey: string; sign(cp: UnsignedCheckpoint): Checkpoint };

export function checkpointSigner(seed: string): CheckpointSigner {
  const text = seed.trim();
  const publicKey = fromSeed(encoder.encode(text)).getPublicKey();
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: rawKey(text, 2), x: rawKey(publicKey, 1) },
    format: 'jwk',
  });
  return {
    publicKey,
    sign(cp) {
      const unsigned = { ...cp, publicKey };
      return { ...unsigned, signature: sign(null, signedBytes(unsigned), key).toString('base64url') };
    },
  };
}

const publicKeys = new Map<string, KeyObject>();

/** The Node key object of an nkey user public key (checked by nkeys: prefix and CRC). */
function keyObjectOf(publicKey: string): KeyObject {
  let key = publicKeys.get(publicKey);
  if (!key) {
    fromPublic(publicKey);
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: rawKey(publicKey, 1) }, format: 'jwk' });
    publicKeys.set(publicKey, key);
  }
  return key;
}

/** Whether `cp` is signed by `trustedKey` (the principal's nkey public key, from the server config). */
export function checkpointSignedBy(cp: Checkpoint, trustedKey: string): boolean {
  if (cp.publicKey !== trustedKey) return false;
  try {
    return verify(null, signedBytes(cp), keyObjectOf(trustedKey), Buffer.from(cp.signature, 'base64url'));
  } catch {
    return false;
  }
}

/** The nkey public key of a seed: what a verifier is given for each principal. */
export const publicKeyOfSeed = (seed: string): string => fromSeed(encoder.encode(seed.trim())).getPublicKey();
