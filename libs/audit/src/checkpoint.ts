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

const signedBytes = (cp: Omit<Checkpoint, 'signature'>): Uint8Array =>
  encoder.encode(canonicalJson({ ...cp, signature: undefined }));

/** A signer holding one nkey seed (the `S...` text of a `.nk` file). */
export type CheckpointSigner = { readonly publicKey: string; sign(cp: UnsignedCheckpoint): Checkpoint };

export function checkpointSigner(seed: string): CheckpointSigner {
  const pair = fromSeed(encoder.encode(seed.trim()));
  const publicKey = pair.getPublicKey();
  return {
    publicKey,
    sign(cp) {
      const unsigned = { ...cp, publicKey };
      return { ...unsigned, signature: Buffer.from(pair.sign(signedBytes(unsigned))).toString('base64url') };
    },
  };
}

/** Whether `cp` is signed by `trustedKey` (the principal's nkey public key, from the server config). */
export function checkpointSignedBy(cp: Checkpoint, trustedKey: string): boolean {
  if (cp.publicKey !== trustedKey) return false;
  try {
    return fromPublic(trustedKey).verify(signedBytes(cp), Buffer.from(cp.signature, 'base64url'));
  } catch {
    return false;
  }
}

/** The nkey public key of a seed: what a verifier is given for each principal. */
export const publicKeyOfSeed = (seed: string): string => fromSeed(encoder.encode(seed.trim())).getPublicKey();
