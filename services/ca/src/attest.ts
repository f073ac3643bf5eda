import { X509Certificate } from 'node:crypto';
import type { caSign, DataOf } from '@warden/events';
import type { VerifiedCsr } from '@warden/pki';
import { verifyChain, verifyRenewalProof } from '@warden/pki';
import type { TrustDomain } from '@warden/trust-domain';
import {
  AttestorUnavailableError,
  IndexUnavailableError,
  SvidRevokedError,
  TokenInvalidError,
} from './errors.ts';
import type { IssuedIndex } from './issued-index.ts';
import { kubernetesTokenAttestor } from './k8s-attestor.ts';
import type { KubernetesTokenAttestorOptions } from './k8s-attestor.ts';
import { TOKEN_PREFIX } from './tokens.ts';
import type { JoinTokens } from './tokens.ts';

export type Evidence = DataOf<typeof caSign>['evidence'];

/** What an attestor vouches for, and how to make that final once every other check has passed. */
export type Attestation = {
  readonly spiffeId: string;
  readonly method: Evidence['type'];
  /** Consumes single-use evidence; called only after the CSR and identity checks succeed. */
  commit(): Promise<void>;
};

export type Attestor = (evidence: Evidence, csr: VerifiedCsr) => Promise<Attestation>;

/** A join token vouches for the one SPIFFE ID it was created for, once. */
export function joinTokenAttestor(tokens: JoinTokens): Attestor {
  return async (evidence) => {
    if (evidence.type !== 'join-token') throw new AttestorUnavailableError(evidence.type);
    if (!evidence.token.startsWith(TOKEN_PREFIX)) throw new TokenInvalidError();
    const binding = await tokens.peek(evidence.token);
    return {
      spiffeId: binding.spiffeId,
      method: 'join-token',
      commit: () => tokens.claim(evidence.token, binding),
    };
  };
}

/**
 * Renewal: the current SVID vouches for its own SPIFFE ID when its chain verifies against this
 * CA's bundle, the index knows it and it is not revoked, and the proof (see @warden/pki
 * `renewalProof`) shows the requester holds its private key. A chain alone is public and proves
 * nothing; the proof is what makes this possession, not a bearer secret.
 */
export function svidAttestor(options: {
  index: IssuedIndex;
  trustDomain: string;
  roots: () => string[];
}): Attestor {
  return async (evidence, csr) => {
    if (evidence.type !== 'svid') throw new AttestorUnavailableError(evidence.type);
    const chain = verifyChain({
      chain: evidence.chainPem,
      roots: options.roots(),
      trustDomain: options.trustDomain,
    });
    // Fail closed: without a complete index, a revoked SVID could look unrevoked.
    if (!(await options.index.isComplete())) throw new IndexUnavailableError('being rebuilt; retry shortly');
    const entry = await options.index.get(chain.leaf.serial);
    if (!entry || entry.revoked || entry.spiffeId !== chain.spiffeId.uri)
      throw new SvidRevokedError(chain.leaf.serial);
    verifyRenewalProof(csr.der, evidence.signature, new X509Certificate(chain.leaf.der).publicKey);
    return { spiffeId: chain.spiffeId.uri, method: 'svid', commit: async () => undefined };
  };
}

/** Dispatches on the evidence type; a type with no attestor configured is refused, never waved through. */
export function attestors(byType: Partial<Record<Evidence['type'], Attestor>>): Attestor {
  return (evidence, csr) => {
    const attestor = byType[evidence.type];
    if (!attestor) throw new AttestorUnavailableError(evidence.type);
    return attestor(evidence, csr);
  };
}

/**
 * The CA's attestors: join tokens and SVID renewal always; `k8s-sat` only when a Kubernetes API
 * is configured, and otherwise refused (`attestor_unavailable`).
 */
export function caAttestor(options: {
  tokens: JoinTokens;
  index: IssuedIndex;
  trustDomain: TrustDomain;
  kubernetes: Omit<KubernetesTokenAttestorOptions, 'trustDomain'> | undefined;
}): Attestor {
  const { trustDomain, kubernetes } = options;
  return attestors({
    'join-token': joinTokenAttestor(options.tokens),
    svid: svidAttestor({
      index: options.index,
      trustDomain: trustDomain.trustDomain,
      roots: () => trustDomain.bundle().rootsPem,
    }),
    ...(kubernetes
      ? { 'k8s-sat': kubernetesTokenAttestor({ ...kubernetes, trustDomain: trustDomain.trustDomain }) }
      : {}),
  });
}
