export type { CaOptions, Issuer, LeafOptions } from './cert.ts';
export {
  BACKDATE_MS,
  CertificateBuildError,
  certificatePem,
  createIntermediateCertificate,
  createRootCertificate,
  issueLeafCertificate,
  loadCertificate,
  newSerial,
} from './cert.ts';
export type { VerifiedCsr } from './csr.ts';
export { createCsr, MAX_CSR_BYTES, verifyCsr } from './csr.ts';
// The CA's hot path: the same results as verifyCsr / issueLeafCertificate, without @peculiar/x509.
export { verifyCsrFast } from './fast-csr.ts';
export type { FastLeafOptions, IssuedLeaf } from './fast-leaf.ts';
export { issueLeaf } from './fast-leaf.ts';
export {
  ChainProblem,
  ChainVerificationError,
  CsrIdentityError,
  CsrSignatureError,
  InputTooLargeError,
  MalformedInputError,
  PkiError,
  SpiffeIdError,
  SpiffeIdProblem,
  UnsupportedKeyError,
} from './errors.ts';
export type { CertificateInfo, VerifiedChain, VerifyOptions } from './inspect.ts';
export {
  inspectCertificate,
  MAX_CHAIN_BYTES,
  MAX_CHAIN_CERTIFICATES,
  normaliseSerial,
  parseCertificates,
  peerSpiffeId,
  verifyChain,
} from './inspect.ts';
export type { KeyDescription } from './keys.ts';
export {
  algorithmOfKey,
  checkPublicKey,
  exportPrivateKeyDer,
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKey,
  KeyAlgorithm,
  keyAlgorithms,
  signingParams,
} from './keys.ts';
export { decodePem, toPem } from './pem.ts';
export type { IstioIdentity, SpiffeId } from './spiffe.ts';
export {
  isSpiffeId,
  istioIdentityOf,
  istioSpiffeId,
  MAX_SPIFFE_ID_BYTES,
  MAX_TRUST_DOMAIN_LENGTH,
  parseIstioSpiffeId,
  parseSpiffeId,
  parseTrustDomain,
  spiffeIdFromSegments,
  trustDomainId,
} from './spiffe.ts';
// For tools and tests that need to build unusual requests (weak keys, bad signatures) on purpose.
export { Pkcs10CertificateRequestGenerator, X509Certificate, X509Crl } from './x509.ts';
export { RENEWAL_CONTEXT, RenewalProofError, renewalProof, verifyRenewalProof } from './renewal.ts';
export type { CrlEntry, ParsedCrl } from './crl.ts';
export { createCrl, crlNumberOf, CrlSigner, crlSigner, MAX_CRL_BLOCKS, parseCrls } from './crl.ts';
