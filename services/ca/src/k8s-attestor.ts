import { istioSpiffeId } from '@warden/pki';
import type { Attestor } from './attest.ts';
import {
  AttestorUnavailableError,
  CaError,
  IdentityMismatchError,
  ReviewerUnavailableError,
  TokenRejectedError,
} from './errors.ts';

/** What a TokenReview answers (`status` of an `authentication.k8s.io/v1` TokenReview). */
export type TokenReviewResult = {
  readonly authenticated: boolean;
  readonly username: string;
  readonly uid: string;
  /** The audiences the token is valid for, among those asked about. */
  readonly audiences: readonly string[];
  /** Set when the API server could not authenticate the token, with its reason. */
  readonly error?: string;
};

/**
 * The seam to the Kubernetes API: asks whether a token is valid for any of `audiences`.
 * Throws when no answer could be had (network, permissions, timeout); a token the API server
 * refuses is an answer (`authenticated: false`), not an exception.
 */
export interface TokenReviewer {
  review(token: string, audiences: readonly string[]): Promise<TokenReviewResult>;
}

/** Projected service-account tokens are a few hundred bytes to about 2 KiB; 8 KiB leaves room. */
export const DEFAULT_MAX_SAT_BYTES = 8192;
const SA_PREFIX = 'system:serviceaccount:';
/** A compact JWS: three base64url parts (service-account tokens are always JWTs). */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export type KubernetesTokenAttestorOptions = {
  reviewer: TokenReviewer;
  trustDomain: string;
  /** Audiences the token must be valid for (at least one); the trust domain when not given. */
  audiences?: readonly string[];
  maxTokenBytes?: number;
};

/**
 * Kubernetes service-account token attestation (evidence `k8s-sat`), as Istio's CA does it: the
 * API server reviews the token (TokenReview), its username `system:serviceaccount:<ns>:<sa>`
 * names the identity `spiffe://<trust domain>/ns/<ns>/sa/<sa>`, and the CSR must ask for exactly
 * that. Every doubt refuses: a reviewer that fails or answers without confirming the audience
 * is `reviewer_unavailable` or `token_rejected`, never a pass. Nothing is consumed, so `commit`
 * is a no-op: the token stays valid until Kubernetes rotates it, as a bearer credential does.
 */
export function kubernetesTokenAttestor(options: KubernetesTokenAttestorOptions): Attestor {
  const audiences = options.audiences?.length ? [...options.audiences] : [options.trustDomain];
  const maxBytes = options.maxTokenBytes ?? DEFAULT_MAX_SAT_BYTES;
  return async (evidence, csr) => {
    if (evidence.type !== 'k8s-sat') throw new AttestorUnavailableError(evidence.type);
    const token = evidence.token;
    // Checked before anything leaves the CA: garbage never reaches the API server.
    const bytes = Buffer.byteLength(token, 'utf8');
    if (bytes > maxBytes)
      throw new TokenRejectedError(`${bytes} bytes exceeds the limit of ${maxBytes} bytes`);
    if (!JWT.test(token)) throw new TokenRejectedError('not a JWT');

    let result: TokenReviewResult;
    try {
      result = await options.reviewer.review(token, audiences);
    } catch (err) {
      if (err instanceof CaError) throw err;
      throw new ReviewerUnavailableError(err instanceof Error ? err.message : String(err), { cause: err });
    }
    // The API server's own reason is safe to pass on (it never contains the token).
    if (!result.authenticated) throw new TokenRejectedError(result.error || 'not authenticated');
    if (result.error) throw new TokenRejectedError(`authenticated with an error: ${result.error}`);
    if (!result.audiences.some((aud) => audiences.includes(aud)))
      throw new TokenRejectedError(
        `valid for audiences ${JSON.stringify(result.audiences)}, not for ${JSON.stringify(audiences)}`,
      );

    const attested = serviceAccountId(options.trustDomain, result.username);
    if (attested !== csr.spiffeId.uri) throw new IdentityMismatchError(csr.spiffeId.uri, attested);
    return { spiffeId: attested, method: 'k8s-sat', commit: async () => undefined };
  };
}

/** `system:serviceaccount:<ns>:<sa>` → `spiffe://<td>/ns/<ns>/sa/<sa>`; anything else is refused. */
function serviceAccountId(trustDomain: string, username: string): string {
  const [namespace, serviceAccount, ...more] = username.startsWith(SA_PREFIX)
    ? username.slice(SA_PREFIX.length).split(':')
    : [];
  if (namespace === undefined || serviceAccount === undefined || more.length > 0)
    throw new TokenRejectedError(`${JSON.stringify(username)} is not a service account`);
  try {
    return istioSpiffeId(trustDomain, namespace, serviceAccount).uri;
  } catch (err) {
    throw new TokenRejectedError(
      `service account ${JSON.stringify(username)} has no SPIFFE ID: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
