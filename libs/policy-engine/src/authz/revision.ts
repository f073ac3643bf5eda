/**
 * A compiled, immutable revision of the AuthorizationPolicy set, and the decision procedure.
 *
 * Policies are indexed by namespace (root-namespace policies apply everywhere) and by the first
 * label of their selector; the set that applies to one workload (namespace + labels) is resolved
 * once, split into CUSTOM / DENY / ALLOW / AUDIT rule indexes and cached, so a decision is a cache
 * lookup plus a walk of a few candidate rules.
 *
 * Decision order (Istio's, then Warden's default, ARCHITECTURE §4):
 * 1. a matching CUSTOM rule asks its provider; a provider that denies, is missing or throws denies;
 * 2. a matching DENY rule denies;
 * 3. if no ALLOW policy selects the workload, the mesh default (per namespace) decides;
 * 4. a matching ALLOW rule allows; otherwise deny.
 * AUDIT rules only mark the decision.
 */
import { messageOf } from '@warden/core';
import { PolicyEngineError } from '../errors.ts';
import { compileRule } from './compile.ts';
import { defaultMeshDefault, DecisionReason } from './model.ts';
import type { AuthorizationPolicy, AuthzRequest, Decision, DecisionResponse, MeshDefault } from './model.ts';
import { normalizeRequest } from './request.ts';
import type { Attributes } from './request.ts';
import { RuleIndex } from './rule-index.ts';
import type { CompiledRule } from './rule-index.ts';

/** Warden's CUSTOM provider (the Rego layer, or anything else): answers synchronously. */
export type CustomProvider = (
  request: AuthzRequest,
  attributes: Attributes,
) => { allowed: boolean; reason?: string; response?: DecisionResponse };

export type RevisionOptions = {
  revision?: number;
  meshDefault?: MeshDefault;
  providers?: ReadonlyMap<string, CustomProvider>;
  /** Clock for requests without `time`; tests pin it. */
  now?: () => number;
  /** Bound on cached workload views; the cache is dropped whole when exceeded. */
  maxCachedWorkloads?: number;
};

type WorkloadView = {
  custom: RuleIndex;
  deny: RuleIndex;
  allow: RuleIndex;
  audit: RuleIndex;
  /** Whether any ALLOW policy selects the workload (even one whose rules were all dropped). */
  hasAllow: boolean;
};

type Scoped = { policy: AuthorizationPolicy; order: number; rules: CompiledRule[] };

type NamespaceIndex = { wide: Scoped[]; byLabel: Map<string, Scoped[]> };

const policyName = (p: AuthorizationPolicy): string => `ns[${p.namespace}]-policy[${p.name}]`;

function compilePolicy(policy: AuthorizationPolicy, order: number): Scoped {
  const base = policyName(policy);
  const rules: CompiledRule[] = [];
  if (policy.broken !== undefined && policy.action !== 'ALLOW' && policy.action !== 'AUDIT') {
    // A DENY/CUSTOM policy (or one with an unknown action) that could not be understood denies
    // everything in its scope: the fail-safe direction for something meant to restrict.
    rules.push({ name: base, policy: base, matches: () => true, rule: {}, broken: policy.broken });
    return { policy: { ...policy, action: 'DENY' }, order, rules };
  }
  if (policy.broken !== undefined) return { policy, order, rules }; // ALLOW: allow nothing.
  for (const [i, rule] of policy.rules.entries()) {
    // Istio's asymmetry: a broken ALLOW (or AUDIT) rule is dropped, narrowing access; a broken
    // DENY or CUSTOM rule keeps its valid fields, the dropped ones no longer narrowing it.
    if (rule.broken !== undefined && (policy.action === 'ALLOW' || policy.action === 'AUDIT')) continue;
    const compiled: CompiledRule = {
      name: `${base}-rule[${i}]`,
      policy: base,
      matches: compileRule(rule, policy.action),
      rule,
    };
    if (policy.provider !== undefined) compiled.provider = policy.provider;
    rules.push(compiled);
  }
  return { policy, order, rules };
}

function selects(policy: AuthorizationPolicy, labels: Record<string, string> | undefined): boolean {
  if (!policy.selector) return true;
  for (const [k, v] of Object.entries(policy.selector)) if (labels?.[k] !== v) return false;
  return true;
}

export class PolicyRevision {
  readonly revision: number;
  readonly policies: readonly AuthorizationPolicy[];
  readonly meshDefault: MeshDefault;
  readonly #providers: ReadonlyMap<string, CustomProvider>;
  readonly #now: () => number;
  readonly #namespaces = new Map<string, NamespaceIndex>();
  readonly #views = new Map<string, WorkloadView>();
  readonly #maxViews: number;

  constructor(policies: readonly AuthorizationPolicy[], options: RevisionOptions = {}) {
    this.revision = options.revision ?? 0;
    this.policies = policies;
    this.meshDefault = options.meshDefault ?? defaultMeshDefault;
    this.#providers = options.providers ?? new Map();
    this.#now = options.now ?? Date.now;
    this.#maxViews = options.maxCachedWorkloads ?? 100_000;
    // Deterministic order (namespace, name) so the reported rule never depends on arrival order.
    const sorted = [...policies].sort((a, b) =>
      a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1,
    );
    for (const [order, policy] of sorted.entries()) {
      const scoped = compilePolicy(policy, order);
      let ns = this.#namespaces.get(policy.namespace);
      if (!ns) {
        ns = { wide: [], byLabel: new Map() };
        this.#namespaces.set(policy.namespace, ns);
      }
      const first = policy.selector ? Object.entries(policy.selector)[0] : undefined;
      if (!first) ns.wide.push(scoped);
      else {
        const key = `${first[0]}=${first[1]}`;
        const list = ns.byLabel.get(key) ?? [];
        list.push(scoped);
        ns.byLabel.set(key, list);
      }
    }
  }

  #collect(namespace: string, labels: Record<string, string> | undefined, into: Scoped[]): void {
    const ns = this.#namespaces.get(namespace);
    if (!ns) return;
    into.push(...ns.wide);
    if (!labels) return;
    for (const [k, v] of Object.entries(labels)) {
      for (const s of ns.byLabel.get(`${k}=${v}`) ?? []) if (selects(s.policy, labels)) into.push(s);
    }
  }

  /**
   * The policies that apply to a workload (its namespace's, selected by its labels, and the root
   * namespace's), in the order the decision reports them; what the ADS server translates to RBAC.
   * A policy the parser could not read and that restricts is returned as a DENY.
   */
  policiesFor(namespace: string, labels: Record<string, string> | undefined): AuthorizationPolicy[] {
    return this.#scoped(namespace, labels).map((s) => s.policy);
  }

  #scoped(namespace: string, labels: Record<string, string> | undefined): Scoped[] {
    const scoped: Scoped[] = [];
    this.#collect(namespace, labels, scoped);
    if (namespace !== this.meshDefault.rootNamespace)
      this.#collect(this.meshDefault.rootNamespace, labels, scoped);
    return scoped.sort((a, b) => a.order - b.order);
  }

  #view(namespace: string, labels: Record<string, string> | undefined): WorkloadView {
    const labelKey = labels
      ? Object.keys(labels)
          .sort()
          .map((k) => `${k}=${labels[k]}`)
          .join(',')
      : '';
    const key = `${namespace}\u0000${labelKey}`;
    const cached = this.#views.get(key);
    if (cached) return cached;
    const scoped = this.#scoped(namespace, labels);
    const by = (action: string): CompiledRule[] =>
      scoped.filter((s) => s.policy.action === action).flatMap((s) => s.rules);
    const view: WorkloadView = {
      custom: new RuleIndex(by('CUSTOM')),
      deny: new RuleIndex(by('DENY')),
      allow: new RuleIndex(by('ALLOW')),
      audit: new RuleIndex(by('AUDIT')),
      hasAllow: scoped.some((s) => s.policy.action === 'ALLOW'),
    };
    if (this.#views.size >= this.#maxViews) this.#views.clear();
    this.#views.set(key, view);
    return view;
  }

  #decision(
    allowed: boolean,
    reason: DecisionReason,
    policy: string | null,
    audit: string[],
    message: string,
    response?: DecisionResponse,
  ): Decision {
    return {
      allowed,
      reason,
      policy,
      audit,
      message,
      revision: this.revision,
      ...(response ? { response } : {}),
    };
  }

  /** Decides one request. Never throws: anything unexpected is a deny with its reason. */
  decide(request: AuthzRequest): Decision {
    let a: Attributes;
    try {
      a = normalizeRequest(request, this.#now);
    } catch (err) {
      const message = messageOf(err);
      return this.#decision(false, DecisionReason.invalidRequest, null, [], `invalid request: ${message}`);
    }
    const view = this.#view(a.namespace, a.labels);
    const audit: string[] = [];
    if (view.audit.size > 0) {
      const seen = new Set<string>();
      for (const r of view.audit.candidates(a))
        if (!seen.has(r.policy) && r.matches(a)) {
          seen.add(r.policy);
          audit.push(r.name);
        }
    }

    // Headers the allowing providers asked for, applied only if the request ends up allowed.
    let allowResponse: DecisionResponse | undefined;
    if (view.custom.size > 0) {
      const asked = new Set<string>();
      for (const r of view.custom.candidates(a)) {
        const provider = r.provider ?? '';
        if (asked.has(provider) || !r.matches(a)) continue;
        asked.add(provider);
        const check = this.#providers.get(provider);
        if (!check)
          return this.#decision(
            false,
            DecisionReason.customProviderMissing,
            r.name,
            audit,
            `CUSTOM provider ${JSON.stringify(provider)} is not configured`,
          );
        let verdict: { allowed: boolean; reason?: string; response?: DecisionResponse };
        try {
          verdict = check(request, a);
        } catch (err) {
          const why = err instanceof PolicyEngineError ? err.code : messageOf(err);
          verdict = { allowed: false, reason: `provider failed: ${why}` };
        }
        if (!verdict.allowed)
          return this.#decision(
            false,
            DecisionReason.customDenied,
            r.name,
            audit,
            `denied by provider ${provider}${verdict.reason ? `: ${verdict.reason}` : ''}`,
            verdict.response,
          );
        if (verdict.response) allowResponse = mergeResponses(allowResponse, verdict.response);
      }
    }

    const deny = view.deny.first(a);
    if (deny) {
      if (deny.broken !== undefined)
        return this.#decision(
          false,
          DecisionReason.brokenPolicy,
          deny.name,
          audit,
          `policy could not be understood (${deny.broken}); denying its scope`,
        );
      return this.#decision(false, DecisionReason.denyMatched, deny.name, audit, `denied by ${deny.name}`);
    }

    if (!view.hasAllow) {
      const verdict = this.meshDefault.namespaces?.[a.namespace] ?? this.meshDefault.default;
      return this.#decision(
        verdict === 'allow',
        DecisionReason.meshDefault,
        `mesh-default[${a.namespace}]`,
        audit,
        `no ALLOW policy applies; mesh default is ${verdict}`,
        verdict === 'allow' ? allowResponse : undefined,
      );
    }
    const allow = view.allow.first(a);
    if (allow)
      return this.#decision(
        true,
        DecisionReason.allowMatched,
        allow.name,
        audit,
        `allowed by ${allow.name}`,
        allowResponse,
      );
    return this.#decision(
      false,
      DecisionReason.noAllowMatched,
      null,
      audit,
      'ALLOW policies apply but none matches',
    );
  }
}

/** Two allowing providers' headers together (the status and body only matter on a denial). */
function mergeResponses(first: DecisionResponse | undefined, next: DecisionResponse): DecisionResponse {
  if (!first) return next;
  return {
    ...first,
    headers: [...first.headers, ...next.headers],
    responseHeadersToAdd: [...first.responseHeadersToAdd, ...next.responseHeadersToAdd],
    requestHeadersToRemove: [...first.requestHeadersToRemove, ...next.requestHeadersToRemove],
  };
}
