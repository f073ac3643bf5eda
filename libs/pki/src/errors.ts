import { WardenError } from '@warden/core';

/** Errors of the PKI library; a CA reply carries their code. */
export class PkiError extends WardenError {}

/** Why a string is not a SPIFFE ID, one value per rule of the SPIFFE ID specification. */
export const SpiffeIdProblem = {
  empty: 'empty',
  tooLong: 'too_long',
  scheme: 'scheme',
  missingTrustDomain: 'missing_trust_domain',
  trustDomainTooLong: 'trust_domain_too_long',
  trustDomainChar: 'trust_domain_char',
  userinfo: 'userinfo',
  port: 'port',
  query: 'query',
  fragment: 'fragment',
  emptySegment: 'empty_segment',
  dotSegment: 'dot_segment',
  trailingSlash: 'trailing_slash',
  pathChar: 'path_char',
  notIstio: 'not_istio',
} as const;
export type SpiffeIdProblem = (typeof SpiffeIdProblem)[keyof typeof SpiffeIdProblem];

export class SpiffeIdError extends PkiError {
  readonly problem: SpiffeIdProblem;
  constructor(problem: SpiffeIdProblem, message: string) {
    super('invalid_spiffe_id', message);
    this.problem = problem;
  }
}

/** Input larger than the stated limit; checked before any parsing. */
export class InputTooLargeError extends PkiError {
  readonly limit: number;
  constructor(what: string, bytes: number, limit: number) {
    super('input_too_large', `${what} of ${bytes} bytes exceeds the limit of ${limit} bytes`);
    this.limit = limit;
  }
}

/** Not a well-formed PEM / DER structure of the expected kind. */
export class MalformedInputError extends PkiError {
  constructor(what: string, detail: string, options?: ErrorOptions) {
    super('malformed_input', `${what} is malformed: ${detail}`, options);
  }
}

export class CsrSignatureError extends PkiError {
  constructor(detail = 'the signature does not verify with the public key it carries') {
    super('csr_bad_signature', `CSR signature is invalid: ${detail}`);
  }
}

/** A key the CA refuses: too weak (RSA < 2048), an unsupported curve or algorithm. */
export class UnsupportedKeyError extends PkiError {
  constructor(detail: string) {
    super('unsupported_key', `key refused: ${detail}`);
  }
}

/** A CSR whose subject alternative names are not exactly one SPIFFE ID URI. */
export class CsrIdentityError extends PkiError {
  constructor(detail: string) {
    super('csr_identity', `CSR identity refused: ${detail}`);
  }
}

/** Why a chain did not verify against a bundle. */
export const ChainProblem = {
  empty: 'empty',
  expired: 'expired',
  notYetValid: 'not_yet_valid',
  badSignature: 'bad_signature',
  issuerMismatch: 'issuer_mismatch',
  notCa: 'not_ca',
  untrusted: 'untrusted',
  noSpiffeId: 'no_spiffe_id',
  trustDomainMismatch: 'trust_domain_mismatch',
  leafIsCa: 'leaf_is_ca',
  tooLong: 'too_long',
} as const;
export type ChainProblem = (typeof ChainProblem)[keyof typeof ChainProblem];

export class ChainVerificationError extends PkiError {
  readonly problem: ChainProblem;
  constructor(problem: ChainProblem, message: string) {
    super('chain_invalid', `chain does not verify: ${message}`);
    this.problem = problem;
  }
}
