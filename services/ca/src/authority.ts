import type { DataOf, ReplyOf } from '@warden/events';
import type { caSign } from '@warden/events';
import type { VerifiedCsr } from '@warden/pki';
import { issueLeaf, verifyCsrFast } from '@warden/pki';
import type { Attestor } from './attest.ts';
import { IdentityMismatchError, TtlError } from './errors.ts';
import type { TrustDomain } from '@warden/trust-domain';

export type SignRequest = DataOf<typeof caSign>;
export type SignReply = ReplyOf<typeof caSign>;

export type Issued = SignReply & {
  readonly notBefore: string;
  readonly method: string;
  readonly issuer: string;
};

export type AuthorityOptions = {
  trustDomain: TrustDomain;
  attest: Attestor;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
};

/**
 * The signing decision, in the order that makes a refusal change nothing: TTL, then the CSR
 * (size, structure, key, signature, SPIFFE ID), then the evidence and that it vouches for the
 * CSR's SPIFFE ID, and only then consuming single-use evidence and signing.
 */
export async function issue(options: AuthorityOptions, request: SignRequest): Promise<Issued> {
  const ttl = request.ttlSeconds ?? options.defaultTtlSeconds;
  if (ttl > options.maxTtlSeconds) throw new TtlError(ttl, options.maxTtlSeconds);
  // The hot path (libs/pki fast-csr.ts, fast-leaf.ts): verifyCsr's checks and errors, and the
  // leaf issueLeafCertificate would build, without @peculiar/x509's ASN.1 cost per request.
  const csr: VerifiedCsr = await verifyCsrFast(request.csrPem);
  const attestation = await options.attest(request.evidence, csr);
  if (attestation.spiffeId !== csr.spiffeId.uri)
    throw new IdentityMismatchError(csr.spiffeId.uri, attestation.spiffeId);
  await attestation.commit();
  const intermediate = options.trustDomain.active();
  const leaf = await issueLeaf({
    spiffeId: csr.spiffeId.uri,
    publicKey: csr.spki,
    issuer: intermediate.issuer,
    ttlSeconds: ttl,
  });
  return {
    chainPem: [leaf.pem, intermediate.pem],
    spiffeId: csr.spiffeId.uri,
    serial: leaf.serial,
    notBefore: leaf.notBefore.toISOString(),
    notAfter: leaf.notAfter.toISOString(),
    method: attestation.method,
    issuer: intermediate.issuer.certificate.subject,
  };
}
