import type { BackoffPolicy } from '@warden/core';
import type { Logger } from '@warden/runtime';
import type { Audit } from './audit.ts';
import type { AgentConfig } from './config.ts';
import type { CrlTrust } from './crl.ts';
import { CrlRefresher } from './crl-refresher.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Bundle, Svid } from './svid.ts';
import type { TrustBundle } from './trust-bundle.ts';
import type { Workloads } from './workloads.ts';

export type CrlWiringDeps = {
  readonly trust: TrustBundle;
  readonly workloads: Workloads;
  readonly backoff: BackoffPolicy;
  readonly audit: Audit;
  readonly metrics: AgentMetrics;
  readonly log: Logger;
};

/** A CRL counts if the bundle's roots or the intermediates of SVIDs held (checked when taken) signed it. */
export function crlTrust(bundle: Bundle | null, held: Iterable<Svid>): CrlTrust | null {
  if (!bundle) return null;
  const intermediates = new Set<string>();
  for (const svid of held) for (const pem of svid.chainPem.slice(1)) intermediates.add(pem);
  return { trustDomain: bundle.trustDomain, roots: bundle.rootsPem, intermediates: [...intermediates] };
}

/**
 * The refresher behind every workload's crl.pem, with WARDEN_AGENT_CRL_URL (none without): CRLs
 * checked against the trust bundle and the SVIDs held, written to every workload when they
 * change, and each failing streak audited. It starts with the first trust bundle.
 */
export function crlRefresherFor(config: AgentConfig, deps: CrlWiringDeps): CrlRefresher | undefined {
  const url = config.WARDEN_AGENT_CRL_URL;
  if (!url) return undefined;
  const { trust, workloads, audit } = deps;
  return new CrlRefresher({
    url,
    refreshMs: config.WARDEN_AGENT_CRL_REFRESH_MS,
    timeoutMs: config.WARDEN_AGENT_CA_TIMEOUT_MS,
    backoff: deps.backoff,
    trust: () => crlTrust(trust.current, workloads.held()),
    changed: (next) => workloads.crlChanged(next.pem),
    failed: (err) =>
      audit({
        action: 'agent.crl.refresh',
        target: url,
        outcome: 'failure',
        details: { code: err.code, message: err.message },
      }),
    metrics: deps.metrics,
    log: deps.log,
  });
}
