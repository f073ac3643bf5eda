import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { messageOf } from '@warden/core';
import { inspectCertificate, parseCertificates, verifyChain } from '@warden/pki';
import { BadIssuanceError } from './errors.ts';

/** One X.509-SVID the agent holds: the private key it generated and the chain the CA issued. */
export type Svid = {
  readonly spiffeId: string;
  readonly keyPem: string;
  readonly key: KeyObject;
  /** Leaf first, then the intermediate(s). */
  readonly chainPem: readonly string[];
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /**
   * When the agent obtained it. Half-life is measured from here, not from notBefore: the CA
   * backdates notBefore for clock skew, and with a short TTL that backdate would put the half-life
   * in the past and make the agent rotate in a loop.
   */
  readonly obtainedAt: Date;
};

export type Bundle = {
  readonly trustDomain: string;
  readonly sequence: number;
  readonly rootsPem: readonly string[];
};

const spkiOf = (key: KeyObject): Buffer =>
  (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });

/**
 * Builds an SVID from a key and a chain, checking everything the agent is about to hand a
 * workload: the leaf names the expected SPIFFE ID, it certifies this very key, it is valid now,
 * and, when the bundle is known, the chain verifies against it in the trust domain. Anything else
 * is refused: serving a certificate that does not match its key breaks every handshake.
 */
export function checkSvid(options: {
  spiffeId: string;
  keyPem: string;
  chainPem: readonly string[];
  bundle: Bundle | null;
  obtainedAt: Date;
  now?: Date;
}): Svid {
  const now = options.now ?? new Date();
  let key: KeyObject;
  try {
    key = createPrivateKey(options.keyPem);
  } catch (cause) {
    throw new BadIssuanceError('the private key cannot be read', { cause });
  }
  let certs;
  try {
    certs = parseCertificates(options.chainPem);
  } catch (cause) {
    throw new BadIssuanceError('the certificate chain cannot be read', { cause });
  }
  const [leafCert] = certs;
  if (!leafCert) throw new BadIssuanceError('the certificate chain is empty');
  const leaf = inspectCertificate(leafCert);
  if (leaf.spiffeId !== options.spiffeId)
    throw new BadIssuanceError(
      `the certificate is for ${leaf.spiffeId ?? 'no SPIFFE ID'}, not ${options.spiffeId}`,
    );
  if (!spkiOf(leafCert.publicKey).equals(spkiOf(key)))
    throw new BadIssuanceError('the certificate does not certify the private key');
  if (leaf.notAfter <= now)
    throw new BadIssuanceError(`the certificate expired at ${leaf.notAfter.toISOString()}`);
  if (options.bundle) {
    try {
      verifyChain({
        chain: options.chainPem,
        roots: options.bundle.rootsPem,
        trustDomain: options.bundle.trustDomain,
        now,
      });
    } catch (cause) {
      throw new BadIssuanceError(`the chain does not verify against the trust bundle: ${messageOf(cause)}`, {
        cause,
      });
    }
  }
  return {
    spiffeId: options.spiffeId,
    keyPem: options.keyPem,
    key,
    chainPem: [...options.chainPem],
    serial: leaf.serial,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    obtainedAt: options.obtainedAt,
  };
}

/** The chain as one PEM text, leaf first (what cert-chain.pem and SDS carry). */
export const chainText = (svid: Svid): string =>
  svid.chainPem.map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join('');

export const bundleText = (bundle: Bundle): string =>
  bundle.rootsPem.map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join('');
