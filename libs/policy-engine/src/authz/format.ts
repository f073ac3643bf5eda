import { stringify } from 'yaml';
import type { AuthorizationPolicy } from './model.ts';

/**
 * The model back to Istio's YAML (multi-document), e.g. to write out a minimised policy set.
 * Parsing the output gives the same policies (a round-trip test keeps it so).
 */
export function formatAuthorizationPolicies(policies: readonly AuthorizationPolicy[]): string {
  return policies.map((p) => stringify(toDocument(p), { lineWidth: 0 })).join('---\n');
}

function toDocument(policy: AuthorizationPolicy): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  if (policy.selector) spec['selector'] = { matchLabels: policy.selector };
  spec['action'] = policy.action;
  if (policy.provider !== undefined) spec['provider'] = { name: policy.provider };
  // An absent `rules` never matches, which is what an empty list means in the model.
  if (policy.rules.length > 0) {
    spec['rules'] = policy.rules.map((rule) => {
      const out: Record<string, unknown> = {};
      if (rule.from) out['from'] = rule.from.map((source) => ({ source }));
      if (rule.to) out['to'] = rule.to.map((operation) => ({ operation }));
      if (rule.when) out['when'] = rule.when;
      return out;
    });
  }
  return {
    apiVersion: policy.apiVersion,
    kind: 'AuthorizationPolicy',
    metadata: { name: policy.name, namespace: policy.namespace },
    spec,
  };
}
