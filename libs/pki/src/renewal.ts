import { createPrivateKey, KeyObject, sign, verify } from 'node:crypto';
import { PkiError } from './errors.ts';
import { exportPrivateKeyDer } from './keys.ts';
import type { CryptoKey } from './webcrypto.ts';

/**
 * Proof of possession for SVID renewal. A workload renewing with its current SVID sends, beside
 * the new CSR and its current chain, a signature made with the CURRENT SVID's private key over
 *
 *     "warden-ca-renew-v1\0" || DER bytes of the new CSR
 *
 * using SHA-256 (ECDSA signatures DER-encoded as X9.62 `Ecdsa-Sig-Value`, RSA signatures
 * RSASSA-PKCS1-v1_5), base64-encoded. The CA verifies it with the public key of the presented
 * leaf, after verifying that chain against its bundle and checking the leaf is not revoked.
 *
 * Why this and not a nonce: the CSR already carries a fresh key and its own signature, so signing
 * its bytes binds the renewal to that new key without a round trip. A replayed proof can only get
 * another certificate for the same new public key, useless without its private key; a stolen
 * chain alone (the public part) proves nothing. The context prefix keeps this signature from ever
 * being valid as a signature over anything else the old key signs (TLS transcripts, other CSRs).
 */
export const RENEWAL_CONTEXT = Buffer.from('warden-ca-renew-v1\0', 'latin1');

const message = (csrDer: Uint8Array): Buffer => Buffer.concat([RENEWAL_CONTEXT, csrDer]);

export class RenewalProofError extends PkiError {
  constructor(detail: string) {
    super('proof_invalid', `renewal proof of possession refused: ${detail}`);
  }
}

/** Signs the renewal proof with the current SVID's private key (WebCrypto or node KeyObject). */
export async function renewalProof(csrDer: Uint8Array, currentKey: CryptoKey | KeyObject): Promise<string> {
  const key =
    currentKey instanceof KeyObject
      ? currentKey
      : createPrivateKey({ key: await exportPrivateKeyDer(currentKey), format: 'der', type: 'pkcs8' });
  return sign('sha256', message(csrDer), key).toString('base64');
}

/** Checks the renewal proof with the current SVID's public key; throws `RenewalProofError`. */
export function verifyRenewalProof(
  csrDer: Uint8Array,
  signatureBase64: string,
  currentPublicKey: KeyObject,
): void {
  if (
    signatureBase64.length === 0 ||
    signatureBase64.length > 1024 ||
    !/^[A-Za-z0-9+/]+={0,2}$/.test(signatureBase64)
  )
    throw new RenewalProofError('the signature is not base64 of at most 1024 characters');
  let ok: boolean;
  try {
    ok = verify('sha256', message(csrDer), currentPublicKey, Buffer.from(signatureBase64, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw new RenewalProofError('the signature does not verify with the current SVID key');
}
