import type { AuthorizationPolicy, Source } from '@warden/policy-engine';
import type { ContainmentRule, Target } from './containment.ts';
import { targetMatches } from './containment.ts';

/** A workload as the ADS server serves it: what containment needs to know about a destination. */
export type ContainedWorkload = {
  namespace: string;
  name: string;
  address: string;
  spiffeId: string;
  labels: Record<string, string>;
  serviceAccount: string;
};

/** The callers a target names, as an AuthorizationPolicy source (the peers `peersOf` reads). */
function sourceOf(target: Target): Source {
  if ('workload' in target)
    return { serviceAccounts: [`${target.workload.namespace}/${target.workload.workload}`] };
  if ('principal' in target) return { principals: [target.principal.replace(/^spiffe:\/\//, '')] };
  return { ipBlocks: [target.address] };
}

/**
 * The containment rules in force for one destination, as DENY AuthorizationPolicies that the RBAC
 * translation turns into filters like any other: a deny of source → this workload, everything to a
 * quarantined workload, everything from a quarantined caller. The decision point matches the same
 * rules (`ruleMatches`); this is the proxyless data plane's copy of them.
 */
export function containmentPolicies(
  rules: readonly ContainmentRule[],
  w: ContainedWorkload,
  now: Date,
): AuthorizationPolicy[] {
  const destination = {
    namespace: w.namespace,
    workload: w.labels['app'] ?? w.serviceAccount,
    principal: w.spiffeId,
    ip: w.address,
  };
  const policies: AuthorizationPolicy[] = [];
  for (const rule of rules) {
    if (Date.parse(rule.expiresAt) <= now.getTime()) continue;
    const deny = (from: Source | undefined): void => {
      policies.push({
        apiVersion: 'security.istio.io/v1',
        name: `containment:${rule.id}`,
        namespace: w.namespace,
        action: 'DENY',
        rules: [from ? { from: [from] } : {}],
      });
    };
    if (rule.kind === 'quarantine' && rule.target) {
      deny(targetMatches(rule.target, destination) ? undefined : sourceOf(rule.target));
    } else if (rule.kind === 'deny' && (rule.source || rule.destination)) {
      if (rule.destination && !targetMatches(rule.destination, destination)) continue;
      deny(rule.source ? sourceOf(rule.source) : undefined);
    }
  }
  return policies;
}

/** When the earliest of these rules expires: the filters must change then, nobody acting. */
export function nextExpiry(rules: readonly ContainmentRule[], now: Date): number | undefined {
  const times = rules.map((r) => Date.parse(r.expiresAt)).filter((t) => t > now.getTime());
  return times.length > 0 ? Math.min(...times) : undefined;
}
