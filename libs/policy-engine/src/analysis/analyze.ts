/**
 * Static analysis of an AuthorizationPolicy set: the mistakes a reviewer would want to hear about
 * before a revision goes live. Every finding names the rule (`ns[foo]-policy[bar]-rule[0]`) and,
 * where another rule is the reason, that rule too.
 *
 * - conflict: an ALLOW and a DENY rule with the same match on overlapping workloads (DENY wins);
 * - shadowed: an ALLOW rule entirely covered by a DENY rule on all its workloads: it never allows;
 * - redundant: a rule covered by another rule of the same action and scope: removing it changes
 *   nothing;
 * - unknown_selector: a policy whose selector matches no known workload;
 * - mtls_only_on_plaintext: a rule using peer-identity fields (principals, namespaces,
 *   serviceAccounts, trustDomains, source.principal, source.namespace, source.serviceAccount,
 *   source.trustDomain, connection.sni) on a workload that accepts plaintext,
 *   where those fields never match (ALLOW: plaintext is refused; DENY: plaintext slips past);
 * - http_fields_on_tcp, non_http_method: fields that cannot apply to the rule's traffic
 *   (protocol.ts).
 *
 * Cover checks are those of subsume.ts: sound but incomplete, so every finding is real and some
 * real redundancies may go unreported.
 */
import { DEFAULT_ROOT_NAMESPACE } from '../authz/model.ts';
import type { AuthorizationPolicy, Rule } from '../authz/model.ts';
import { protocolFindings } from './protocol.ts';
import { ruleCovers, scopeCovers, scopesOverlap } from './subsume.ts';

export const FindingKind = {
  conflict: 'conflict',
  shadowed: 'shadowed',
  redundant: 'redundant',
  unknownSelector: 'unknown_selector',
  mtlsOnPlaintext: 'mtls_only_on_plaintext',
  httpFieldsOnTcp: 'http_fields_on_tcp',
  nonHttpMethod: 'non_http_method',
} as const;
export type FindingKind = (typeof FindingKind)[keyof typeof FindingKind];

export type Finding = { kind: FindingKind; subject: string; by?: string; message: string };

/** A workload known to the topology, for selector and plaintext checks. */
export type KnownWorkload = {
  namespace: string;
  labels: Record<string, string>;
  plaintext?: boolean;
  /** Ports that carry plain TCP (Istio: a Service port whose protocol is TCP, MySQL, ...). */
  tcpPorts?: readonly number[];
  /** Ports that carry HTTP, gRPC or HTTP/2: a well-known TCP port listed here is not reported. */
  httpPorts?: readonly number[];
};

export type AnalyzeOptions = { rootNamespace?: string; workloads?: readonly KnownWorkload[] };

export type RuleRef = { policy: AuthorizationPolicy; index: number; rule: Rule; name: string };

/** Valid rules in decision order (namespace, name, rule index); broken ones are left to the parser's issues. */
export function ruleRefs(policies: readonly AuthorizationPolicy[]): RuleRef[] {
  const sorted = [...policies]
    .filter((p) => p.broken === undefined)
    .sort((a, b) =>
      a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1,
    );
  return sorted.flatMap((policy) =>
    policy.rules.flatMap((rule, index) =>
      rule.broken === undefined
        ? [{ policy, index, rule, name: `ns[${policy.namespace}]-policy[${policy.name}]-rule[${index}]` }]
        : [],
    ),
  );
}

const sameKind = (a: AuthorizationPolicy, b: AuthorizationPolicy): boolean =>
  a.action === b.action && (a.action !== 'CUSTOM' || a.provider === b.provider);

/** The rule `r` is redundant because of a `kept` rule of the same kind whose scope and match cover it. */
export function coveredBy(r: RuleRef, kept: readonly RuleRef[], rootNamespace: string): RuleRef | undefined {
  return kept.find(
    (o) =>
      o !== r &&
      sameKind(o.policy, r.policy) &&
      scopeCovers(o.policy, r.policy, rootNamespace) &&
      ruleCovers(o.rule, r.rule),
  );
}

/** A DENY rule that covers ALLOW rule `r` on all of its workloads. */
export function shadowingDeny(
  r: RuleRef,
  refs: readonly RuleRef[],
  rootNamespace: string,
): RuleRef | undefined {
  return refs.find(
    (d) =>
      d.policy.action === 'DENY' &&
      scopeCovers(d.policy, r.policy, rootNamespace) &&
      ruleCovers(d.rule, r.rule),
  );
}

const selects = (p: AuthorizationPolicy, w: KnownWorkload, root: string): boolean =>
  (p.namespace === w.namespace || p.namespace === root) &&
  Object.entries(p.selector ?? {}).every(([k, v]) => w.labels[k] === v);

const mtlsConditionKeys = new Set([
  'source.principal',
  'source.namespace',
  'source.serviceAccount',
  'source.trustDomain',
  'connection.sni',
]);

function usesPeerIdentity(rule: Rule): boolean {
  const inSources = (rule.from ?? []).some(
    (s) =>
      s.principals ||
      s.notPrincipals ||
      s.namespaces ||
      s.notNamespaces ||
      s.serviceAccounts ||
      s.notServiceAccounts ||
      s.trustDomains ||
      s.notTrustDomains,
  );
  return inSources || (rule.when ?? []).some((c) => mtlsConditionKeys.has(c.key));
}

export function analyzePolicies(
  policies: readonly AuthorizationPolicy[],
  options: AnalyzeOptions = {},
): Finding[] {
  const root = options.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const refs = ruleRefs(policies);
  const findings: Finding[] = [];

  for (const [i, r] of refs.entries()) {
    if (r.policy.action === 'ALLOW') {
      const same = refs.find(
        (d) =>
          d.policy.action === 'DENY' &&
          scopesOverlap(d.policy, r.policy, root) &&
          ruleCovers(d.rule, r.rule) &&
          ruleCovers(r.rule, d.rule),
      );
      if (same) {
        findings.push({
          kind: FindingKind.conflict,
          subject: r.name,
          by: same.name,
          message: `${r.name} allows exactly what ${same.name} denies; DENY wins`,
        });
        continue;
      }
      const deny = shadowingDeny(r, refs, root);
      if (deny) {
        findings.push({
          kind: FindingKind.shadowed,
          subject: r.name,
          by: deny.name,
          message: `${r.name} can never allow anything: ${deny.name} denies every request it matches`,
        });
        continue;
      }
    }
    // Earlier rules, and later ones that strictly cover this one (a duplicate is reported once, on
    // the later copy).
    const earlier = refs.slice(0, i);
    const later = refs
      .slice(i + 1)
      .filter((o) => !ruleCovers(r.rule, o.rule) || !scopeCovers(r.policy, o.policy, root));
    const by = coveredBy(r, earlier, root) ?? coveredBy(r, later, root);
    if (by) {
      findings.push({
        kind: FindingKind.redundant,
        subject: r.name,
        by: by.name,
        message: `${r.name} is redundant: ${by.name} already matches every request it matches`,
      });
    }
  }

  const workloads = options.workloads;
  findings.push(
    ...protocolFindings(refs, (r) => (workloads ?? []).filter((w) => selects(r.policy, w, root))),
  );
  if (workloads) {
    for (const p of policies) {
      if (p.selector && !workloads.some((w) => selects(p, w, root)))
        findings.push({
          kind: FindingKind.unknownSelector,
          subject: `ns[${p.namespace}]-policy[${p.name}]`,
          message: `the selector ${JSON.stringify(p.selector)} matches no known workload`,
        });
    }
    for (const r of refs) {
      if (!usesPeerIdentity(r.rule)) continue;
      const plain = workloads.find((w) => w.plaintext && selects(r.policy, w, root));
      if (!plain) continue;
      const effect =
        r.policy.action === 'DENY'
          ? 'plaintext requests carry no peer identity and are not denied by its principal/namespace fields'
          : 'plaintext requests carry no peer identity and never match it';
      findings.push({
        kind: FindingKind.mtlsOnPlaintext,
        subject: r.name,
        message: `${r.name} uses mTLS-only fields but applies to ${plain.namespace}/${JSON.stringify(plain.labels)}, which accepts plaintext: ${effect}`,
      });
    }
  }
  return findings;
}
