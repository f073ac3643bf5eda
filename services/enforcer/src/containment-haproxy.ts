import { istioSpiffeId } from '@warden/pki';
import type { ContainmentRule, Target } from './containment.ts';
import { ruleKey, targetMatches } from './containment.ts';
import { spiffeUri } from './identity.ts';

/** What one terminator's deny maps must hold: key → the rule's bucket key (why it is there). */
export type TerminatorEntries = {
  identities: Map<string, string>;
  addresses: Map<string, string>;
  /** Set when the workload itself is quarantined, or denied to every caller. */
  lockdown: string | undefined;
};

export type TerminatedWorkload = { namespace: string; name: string; trustDomain: string };

/** The SPIFFE ID or address a target names, as HAProxy sees the caller. */
function callerKey(target: Target, trustDomain: string): { identity: string } | { address: string } {
  if ('workload' in target)
    return { identity: istioSpiffeId(trustDomain, target.workload.namespace, target.workload.workload).uri };
  if ('principal' in target) return { identity: spiffeUri(target.principal) };
  return { address: target.address };
}

/**
 * The containment rules in force for the workload behind one terminator, as its map entries: the
 * same rules the decision point matches (`ruleMatches`), for a data plane that can only look up a
 * caller's identity or address.
 */
export function terminatorEntries(
  rules: readonly ContainmentRule[],
  w: TerminatedWorkload,
  now: Date,
): TerminatorEntries {
  const self = {
    namespace: w.namespace,
    workload: w.name,
    principal: istioSpiffeId(w.trustDomain, w.namespace, w.name).uri,
  };
  const out: TerminatorEntries = { identities: new Map(), addresses: new Map(), lockdown: undefined };
  const refuse = (target: Target, why: string): void => {
    const key = callerKey(target, w.trustDomain);
    if ('identity' in key) out.identities.set(key.identity, why);
    else out.addresses.set(key.address, why);
  };
  for (const rule of rules) {
    if (Date.parse(rule.expiresAt) <= now.getTime()) continue;
    const why = ruleKey(rule.id);
    if (rule.kind === 'quarantine' && rule.target) {
      if (targetMatches(rule.target, self)) out.lockdown = why;
      else refuse(rule.target, why);
    } else if (rule.kind === 'deny' && (rule.source || rule.destination)) {
      if (rule.destination && !targetMatches(rule.destination, self)) continue;
      if (rule.source) refuse(rule.source, why);
      else out.lockdown = why;
    }
  }
  return out;
}
