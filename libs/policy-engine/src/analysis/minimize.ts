/**
 * Produces an equivalent, smaller policy set and says what it did to each rule:
 * 1. drops ALLOW rules shadowed by a DENY rule (they never allow anything);
 * 2. drops rules covered by another remaining rule of the same action and scope (duplicates and
 *    subsumed rules), always keeping the one that covers;
 * 3. gathers policies with the same namespace, selector, action (and provider) into one;
 * 4. merges rules that differ in one list field only (`methods: [GET]` + `methods: [POST]` →
 *    `methods: [GET, POST]`), then repeats step 2 on the result.
 *
 * Every step preserves decisions (allow/deny and the audit mark); rule names change. An ALLOW
 * policy left without rules is kept unless another ALLOW policy selects all its workloads, since
 * "some ALLOW policy applies" is itself part of the decision. Broken policies are passed through
 * untouched. `checkEquivalence` (equivalence.ts) verifies the result by differential evaluation.
 */
import type { AuthorizationPolicy, Operation, Rule, Source } from '../authz/model.ts';
import { DEFAULT_ROOT_NAMESPACE, operationFields, sourceFields } from '../authz/model.ts';
import { ruleRefs, shadowingDeny } from './analyze.ts';
import type { RuleRef } from './analyze.ts';
import { ruleCovers, scopeCovers } from './subsume.ts';

export type MinimizeChange = {
  kind: 'dropped' | 'merged';
  /** The original rule (or policy) name. */
  subject: string;
  /** The rule that covers it, or the policy/rule it was merged into. */
  into?: string;
  reason: string;
};

export type MinimizeResult = {
  policies: AuthorizationPolicy[];
  changes: MinimizeChange[];
  rulesBefore: number;
  rulesAfter: number;
};

const sameKind = (a: AuthorizationPolicy, b: AuthorizationPolicy): boolean =>
  a.action === b.action && (a.action !== 'CUSTOM' || a.provider === b.provider);

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );

/** Drops covered rules against the rules still present; returns the survivors. */
function dropCovered(refs: RuleRef[], root: string, changes: MinimizeChange[]): RuleRef[] {
  const alive = new Set(refs);
  for (const r of refs) {
    for (const o of alive) {
      if (o === r || !sameKind(o.policy, r.policy)) continue;
      if (!scopeCovers(o.policy, r.policy, root) || !ruleCovers(o.rule, r.rule)) continue;
      alive.delete(r);
      changes.push({ kind: 'dropped', subject: r.name, into: o.name, reason: `covered by ${o.name}` });
      break;
    }
  }
  return refs.filter((r) => alive.has(r));
}

const listFields = { source: sourceFields, operation: operationFields } as const;

/** Positive fields only: a union of `not` lists would narrow the rule, not widen it. */
const mergeable = {
  source: [
    'principals',
    'requestPrincipals',
    'namespaces',
    'ipBlocks',
    'remoteIpBlocks',
    'serviceAccounts',
    'trustDomains',
  ],
  operation: ['hosts', 'ports', 'methods', 'paths'],
} as const;

/** If r1 ∨ r2 is one rule (they differ in one positive list field), returns it. */
function merge(r1: Rule, r2: Rule): Rule | null {
  if ((r1.from?.length ?? 0) > 1 || (r2.from?.length ?? 0) > 1) return null;
  if ((r1.to?.length ?? 0) > 1 || (r2.to?.length ?? 0) > 1) return null;
  if (canonical(r1.when ?? []) !== canonical(r2.when ?? [])) return null;
  const s1: Source = r1.from?.[0] ?? {};
  const s2: Source = r2.from?.[0] ?? {};
  const o1: Operation = r1.to?.[0] ?? {};
  const o2: Operation = r2.to?.[0] ?? {};
  const sourceSame = canonical(s1) === canonical(s2);
  const operationSame = canonical(o1) === canonical(o2);
  if (sourceSame === operationSame) return null; // identical (already dropped) or differ in both
  const [block1, block2, fields, all] = sourceSame
    ? [
        o1 as Record<string, string[] | undefined>,
        o2 as Record<string, string[] | undefined>,
        mergeable.operation,
        listFields.operation,
      ]
    : [
        s1 as Record<string, string[] | undefined>,
        s2 as Record<string, string[] | undefined>,
        mergeable.source,
        listFields.source,
      ];
  const differing = all.filter((f) => canonical(block1[f] ?? null) !== canonical(block2[f] ?? null));
  const field = differing[0];
  if (differing.length !== 1 || field === undefined || !(fields as readonly string[]).includes(field))
    return null;
  const v1 = block1[field];
  const v2 = block2[field];
  if (!v1?.length || !v2?.length) return null; // an absent field means "any": no union to take
  const union = { ...block1, [field]: [...new Set([...v1, ...v2])] };
  const merged: Rule = {};
  if (sourceSame) {
    if (r1.from) merged.from = r1.from;
    merged.to = [union as Operation];
  } else {
    merged.from = [union as Source];
    if (r1.to) merged.to = r1.to;
  }
  if (r1.when) merged.when = r1.when;
  return merged;
}

export function minimizePolicies(
  policies: readonly AuthorizationPolicy[],
  options: { rootNamespace?: string } = {},
): MinimizeResult {
  const root = options.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const changes: MinimizeChange[] = [];
  const broken = policies.filter((p) => p.broken !== undefined);
  const all = ruleRefs(policies);
  const rulesBefore = policies.reduce((n, p) => n + p.rules.length, 0);

  // 1. Shadowed ALLOW rules.
  const unshadowed = all.filter((r) => {
    if (r.policy.action !== 'ALLOW') return true;
    const deny = shadowingDeny(r, all, root);
    if (deny)
      changes.push({
        kind: 'dropped',
        subject: r.name,
        into: deny.name,
        reason: `shadowed by DENY ${deny.name}`,
      });
    return !deny;
  });
  // 2. Covered rules.
  const survivors = dropCovered(unshadowed, root, changes);

  // 3. One policy per (namespace, selector, action, provider), in decision order.
  type Group = { policy: AuthorizationPolicy; rules: { rule: Rule; name: string }[] };
  const groups = new Map<string, Group>();
  const ordered = policies
    .filter((p) => p.broken === undefined)
    .sort((a, b) =>
      a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1,
    );
  for (const p of ordered) {
    const key = canonical([p.namespace, p.selector ?? {}, p.action, p.provider ?? null]);
    const group = groups.get(key);
    if (!group) groups.set(key, { policy: p, rules: [] });
    else
      changes.push({
        kind: 'merged',
        subject: `ns[${p.namespace}]-policy[${p.name}]`,
        into: `ns[${group.policy.namespace}]-policy[${group.policy.name}]`,
        reason: 'same namespace, selector and action',
      });
  }
  for (const r of survivors) {
    const key = canonical([
      r.policy.namespace,
      r.policy.selector ?? {},
      r.policy.action,
      r.policy.provider ?? null,
    ]);
    groups.get(key)?.rules.push({ rule: r.rule, name: r.name });
  }

  // 4. Merge rules within each group until nothing changes.
  for (const group of groups.values()) {
    let changed = true;
    while (changed) {
      changed = false;
      outer: for (let i = 0; i < group.rules.length; i++) {
        for (let j = i + 1; j < group.rules.length; j++) {
          const a = group.rules[i];
          const b = group.rules[j];
          if (!a || !b) continue;
          const merged = merge(a.rule, b.rule);
          if (!merged) continue;
          changes.push({
            kind: 'merged',
            subject: b.name,
            into: a.name,
            reason: 'differs in one list field only',
          });
          group.rules[i] = { rule: merged, name: a.name };
          group.rules.splice(j, 1);
          changed = true;
          break outer;
        }
      }
    }
  }

  let result: AuthorizationPolicy[] = [...groups.values()].map((g) => ({
    ...g.policy,
    rules: g.rules.map((r) => r.rule),
  }));
  // Merged rules may now cover others: one more covering pass over the result.
  const again = dropCovered(ruleRefs(result), root, changes);
  const keep = new Set(again.map((r) => r.rule));
  result = result.map((p) => ({ ...p, rules: p.rules.filter((r) => keep.has(r)) }));
  // Empty DENY/AUDIT/CUSTOM policies do nothing; an empty ALLOW policy still makes its workloads
  // "have an ALLOW policy", unless another ALLOW policy selects all of them.
  result = result.filter((p, i) => {
    if (p.rules.length > 0) return true;
    if (p.action !== 'ALLOW') return false;
    return !result.some(
      (q, j) => j !== i && q.action === 'ALLOW' && scopeCovers(q, p, root) && (q.rules.length > 0 || j < i),
    );
  });
  const out = [...result, ...broken];
  return { policies: out, changes, rulesBefore, rulesAfter: out.reduce((n, p) => n + p.rules.length, 0) };
}
