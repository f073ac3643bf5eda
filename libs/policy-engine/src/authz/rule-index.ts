/**
 * A decision-tree index over the rules of one action on one workload, keyed by cheap
 * discriminators (HTTP method, destination port, first path segment), so a decision evaluates
 * only the rules that could match instead of scanning all of them.
 *
 * A rule is filed under a key only when it provably cannot match any other value (every `to`
 * operation lists exact methods, for instance); otherwise it goes into every bucket and the
 * "other" bucket. Buckets keep the rules' global order, so the first match, the one a decision
 * reports, is the same as a full scan would find.
 */
import type { Rule } from './model.ts';
import type { Predicate } from './compile.ts';
import type { Attributes } from './request.ts';

export type CompiledRule = {
  /** `ns[foo]-policy[name]-rule[0]`. */
  name: string;
  policy: string;
  /** Provider of a CUSTOM policy. */
  provider?: string;
  matches: Predicate;
  rule: Rule;
  /** Set for the deny-all rule standing in for a policy that could not be understood. */
  broken?: string;
};

type Discriminator = {
  /** The only values a rule can match, or null if it can match any. */
  keysOf(rule: Rule): Set<string> | null;
  /** The request's value; undefined (e.g. plain TCP) means "look at every rule". */
  valueOf(a: Attributes): string | undefined;
};

const exactOnly = (values: string[] | undefined): string[] | null =>
  values?.length && values.every((v) => !v.includes('*')) ? values : null;

/** The first path segment a path pattern pins down, or null if it cannot (prefix inside it, suffix, presence). */
export function firstSegment(pattern: string): string | null {
  if (!pattern.startsWith('/') || pattern.startsWith('/{')) return null;
  const end = pattern.indexOf('/', 1);
  const segment = end === -1 ? pattern.slice(1) : pattern.slice(1, end);
  if (segment.includes('*') || segment.includes('{')) return null;
  // `/info*` is a prefix that may extend the segment (`/information`); only a `/` closes it.
  if (end === -1 && pattern.endsWith('*')) return null;
  return segment;
}

const requestSegment = (path: string): string => {
  const end = path.indexOf('/', 1);
  return end === -1 ? path.slice(1) : path.slice(1, end);
};

function perOperation(
  rule: Rule,
  pick: (op: NonNullable<Rule['to']>[number]) => string[] | null,
): Set<string> | null {
  if (!rule.to?.length) return null;
  const keys = new Set<string>();
  for (const op of rule.to) {
    const values = pick(op);
    if (values === null) return null;
    for (const v of values) keys.add(v);
  }
  return keys;
}

const discriminators: readonly Discriminator[] = [
  {
    keysOf: (rule) => perOperation(rule, (op) => exactOnly(op.methods)),
    valueOf: (a) => a.method,
  },
  {
    keysOf: (rule) => perOperation(rule, (op) => exactOnly(op.ports)),
    valueOf: (a) => a.destinationPort,
  },
  {
    keysOf: (rule) =>
      perOperation(rule, (op) => {
        if (!op.paths?.length) return null;
        const segments = op.paths.map(firstSegment);
        return segments.every((s): s is string => s !== null) ? segments : null;
      }),
    valueOf: (a) => (a.path === undefined ? undefined : requestSegment(a.path)),
  },
];

type Node = readonly CompiledRule[] | Branch;
type Branch = { depth: number; byKey: Map<string, Node>; other: Node; all: Node };

/** Below this many rules a scan is cheaper than another level of lookups. */
const leafSize = 8;

function build(rules: readonly CompiledRule[], depth: number): Node {
  const d = discriminators[depth];
  if (!d || rules.length <= leafSize) return rules;
  const keyed = rules.map((r) => ({ r, keys: d.keysOf(r.rule) }));
  const allKeys = new Set<string>();
  for (const { keys } of keyed) if (keys) for (const k of keys) allKeys.add(k);
  if (allKeys.size === 0) return build(rules, depth + 1);
  const byKey = new Map<string, Node>();
  for (const k of allKeys)
    byKey.set(
      k,
      build(
        keyed.filter(({ keys }) => keys === null || keys.has(k)).map(({ r }) => r),
        depth + 1,
      ),
    );
  const other = build(
    keyed.filter(({ keys }) => keys === null).map(({ r }) => r),
    depth + 1,
  );
  return { depth, byKey, other, all: build(rules, depth + 1) };
}

export class RuleIndex {
  readonly size: number;
  readonly #root: Node;
  constructor(rules: readonly CompiledRule[]) {
    this.size = rules.length;
    this.#root = build(rules, 0);
  }

  /** The rules that could match, in policy order. */
  candidates(a: Attributes): readonly CompiledRule[] {
    let node = this.#root;
    while (!Array.isArray(node)) {
      const branch = node as Branch;
      const value = discriminators[branch.depth]?.valueOf(a);
      node = value === undefined ? branch.all : (branch.byKey.get(value) ?? branch.other);
    }
    return node as readonly CompiledRule[];
  }

  /** First rule that matches, or null. */
  first(a: Attributes): CompiledRule | null {
    for (const r of this.candidates(a)) if (r.matches(a)) return r;
    return null;
  }
}
