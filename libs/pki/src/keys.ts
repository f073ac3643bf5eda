import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { UnsupportedKeyError } from './errors.ts';
import { toPem } from './pem.ts';
import type {
  CryptoKey,
  CryptoKeyPair,
  EcKeyAlgorithm,
  EcKeyGenParams,
  RsaHashedKeyAlgorithm,
  RsaHashedKeyGenParams,
  SigningParams,
} from './webcrypto.ts';

/** Key algorithms Warden issues for (ARCHITECTURE §3): ECDSA P-256 by default, RSA-2048 on request. */
export const KeyAlgorithm = { ecdsaP256: 'ecdsa-p256', rsa2048: 'rsa-2048' } as const;
export type KeyAlgorithm = (typeof KeyAlgorithm)[keyof typeof KeyAlgorithm];
export const keyAlgorithms: readonly KeyAlgorithm[] = Object.values(KeyAlgorithm);

export function keyGenParams(algorithm: KeyAlgorithm): EcKeyGenParams | RsaHashedKeyGenParams {
  return algorithm === KeyAlgorithm.ecdsaP256
    ? { name: 'ECDSA', namedCurve: 'P-256' }
    : {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      };
}

/** The WebCrypto signing parameters for a key of this algorithm (always SHA-256). */
export function signingParams(algorithm: KeyAlgorithm): SigningParams {
  return algorithm === KeyAlgorithm.ecdsaP256
    ? { name: 'ECDSA', hash: 'SHA-256' }
    : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
}

/** An extractable WebCrypto key pair: the CA seals its keys, workloads write theirs to PEM. */
export async function generateKeyPair(
  algorithm: KeyAlgorithm = KeyAlgorithm.ecdsaP256,
): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(keyGenParams(algorithm), true, ['sign', 'verify']);
}

/** The algorithm of a WebCrypto key, or an `UnsupportedKeyError`. */
export function algorithmOfKey(key: CryptoKey): KeyAlgorithm {
  const alg = key.algorithm as Partial<EcKeyAlgorithm & RsaHashedKeyAlgorithm>;
  if (alg.name === 'ECDSA' && alg.namedCurve === 'P-256') return KeyAlgorithm.ecdsaP256;
  if (alg.name === 'RSASSA-PKCS1-v1_5' && alg.modulusLength === 2048) return KeyAlgorithm.rsa2048;
  throw new UnsupportedKeyError(`${alg.name ?? 'unknown'} key is not one Warden issues with`);
}

export async function exportPrivateKeyDer(key: CryptoKey): Promise<Buffer> {
  return Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', await exportPrivateKeyDer(key));
}

/** Imports a PKCS#8 private key for signing. */
export async function importPrivateKey(der: Uint8Array, algorithm: KeyAlgorithm): Promise<CryptoKey> {
  return crypto.subtle.importKey('pkcs8', der, keyGenParams(algorithm), true, ['sign']);
}

/** Curves the CA accepts in a CSR (OpenSSL names). P-256 is Warden's own; P-384 is common. */
const ACCEPTED_CURVES = new Map([
  ['prime256v1', 'P-256'],
  ['secp384r1', 'P-384'],
]);
export const MIN_RSA_BITS = 2048;
const MIN_RSA_EXPONENT = 65_537n;
/** Larger RSA keys only cost verification time; 4096 is the largest anyone needs for a leaf. */
export const MAX_RSA_BITS = 4096;

export type KeyDescription = { type: 'ec'; curve: string } | { type: 'rsa'; bits: number };

/**
 * Checks a SubjectPublicKeyInfo against what the CA signs for: ECDSA on P-256 or P-384, RSA from
 * 2048 to 4096 bits. Everything else (RSA-1024, other curves, Ed25519, DSA) is refused.
 */
export function checkPublicKey(spki: Uint8Array): { key: KeyObject; description: KeyDescription } {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw new UnsupportedKeyError('the public key cannot be read');
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    const curve = ACCEPTED_CURVES.get(details.namedCurve ?? '');
    if (!curve)
      throw new UnsupportedKeyError(
        `curve ${details.namedCurve ?? 'unknown'} is not supported; use P-256 or P-384`,
      );
    return { key, description: { type: 'ec', curve } };
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS)
      throw new UnsupportedKeyError(
        `RSA key of ${bits} bits is too weak; at least ${MIN_RSA_BITS} are required`,
      );
    if (bits > MAX_RSA_BITS)
      throw new UnsupportedKeyError(`RSA key of ${bits} bits exceeds the limit of ${MAX_RSA_BITS}`);
    // As the CA/Browser Forum requires: an odd exponent of at least 65537 (e = 3 invites
    // attacks on padding; an even one is not RSA).
    const exponent = details.publicExponent ?? 0n;
    if (exponent < MIN_RSA_EXPONENT || exponent % 2n === 0n)
      throw new UnsupportedKeyError(
        `RSA public exponent ${exponent} is not allowed; use an odd exponent of at least 65537`,
      );
    return { key, description: { type: 'rsa', bits } };
  }
  throw new UnsupportedKeyError(
    `${key.asymmetricKeyType ?? 'unknown'} keys are not supported; use ECDSA P-256 or RSA-2048`,
  );
}
