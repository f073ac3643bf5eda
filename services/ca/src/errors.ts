import { WardenError } from '@warden/core';

/**
 * Errors the CA answers with. The bus sends each one's snake_case `code` to the requester
 * (`RemoteError.remoteCode`), so a client can tell a used token from a bad CSR without parsing text.
 */
export class CaError extends WardenError {}

export class TokenInvalidError extends CaError {
  constructor() {
    super('token_invalid', 'join token is unknown');
  }
}

export class TokenExpiredError extends CaError {
  constructor(expiresAt: string) {
    super('token_expired', `join token expired at ${expiresAt}`);
  }
}

export class TokenUsedError extends CaError {
  constructor() {
    super('token_used', 'join token was already used; join tokens are single-use');
  }
}

export class IdentityMismatchError extends CaError {
  constructor(requested: string, attested: string) {
    super('identity_mismatch', `the CSR asks for ${requested} but the evidence attests ${attested}`);
  }
}

export class TtlError extends CaError {
  constructor(ttl: number, max: number) {
    super('ttl_too_long', `requested TTL of ${ttl} s exceeds the maximum of ${max} s`);
  }
}

export class SvidRevokedError extends CaError {
  constructor(serial: string) {
    super('svid_revoked', `the presented SVID (serial ${serial}) is revoked or unknown to the CA`);
  }
}

export class IndexUnavailableError extends CaError {
  constructor(detail: string, options?: ErrorOptions) {
    super('index_unavailable', `the issued-certificate index is unavailable: ${detail}`, options);
  }
}

export class AttestorUnavailableError extends CaError {
  constructor(type: string) {
    super('attestor_unavailable', `attestation by ${type} is not configured on this CA`);
  }
}

/**
 * A Kubernetes service-account token the CA will not accept: too large or not a JWT, not
 * authenticated by the API server, not a service account's, or not for this CA's audience.
 */
export class TokenRejectedError extends CaError {
  constructor(reason: string) {
    super('token_rejected', `service-account token rejected: ${reason}`);
  }
}

/** The Kubernetes TokenReview could not be made or answered nonsense: the CA refuses, never guesses. */
export class ReviewerUnavailableError extends CaError {
  constructor(detail: string, options?: ErrorOptions) {
    super('reviewer_unavailable', `the Kubernetes token review is unavailable: ${detail}`, options);
  }
}

/** A join token request the CA will not serve: another trust domain, no workload, too long a TTL. */
export class TokenRequestError extends CaError {
  constructor(message: string) {
    super('token_request', message);
  }
}
