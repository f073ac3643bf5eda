/**
 * One rule → one predicate over `Attributes`, built once per revision. Each field becomes a
 * closure over a pre-built matcher, so a decision never re-reads policy text.
 *
 * Two Istio behaviours live here:
 * - HTTP-only fields on plain TCP: Istio cannot evaluate them, so in an ALLOW (or AUDIT) rule they
 *   never match and in a DENY (or CUSTOM) rule they are ignored ("For a DENY rule, missing
 *   attributes are treated as matches"). Either way the result errs towards denial.
 * - Absent attributes (no peer certificate, no JWT, no header): a positive field does not match,
 *   its `not` form does. So `principals` never match plaintext, while the documented
 *   `notPrincipals: ["*"]` DENY rule does catch it.
 */
import { parseConditionKey } from './attributes.ts';
import { anyOf, inWindow, ipMatcher, parseTimeWindow, pathMatcher } from './match.ts';
import type { StringMatcher, TimeWindow } from './match.ts';
import type { Action, Condition, Operation, Rule, Source } from './model.ts';
import type { Attributes } from './request.ts';

export type Predicate = (a: Attributes) => boolean;

const always: Predicate = () => true;

/** `values` must match and `notValues` must not; a missing attribute fails `values` only. */
function positiveNegative<T>(
  get: (a: Attributes) => T | undefined,
  test: (pattern: readonly string[]) => (value: T) => boolean,
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
): Predicate {
  const pos = values?.length ? test(values) : null;
  const neg = notValues?.length ? test(notValues) : null;
  if (pos && neg)
    return (a) => {
      const v = get(a);
      return v !== undefined && pos(v) && !neg(v);
    };
  if (pos)
    return (a) => {
      const v = get(a);
      return v !== undefined && pos(v);
    };
  if (neg)
    return (a) => {
      const v = get(a);
      return v === undefined || !neg(v);
    };
  return always;
}

const strings =
  (ignoreCase = false) =>
  (patterns: readonly string[]): StringMatcher =>
    anyOf(patterns, ignoreCase);
const ips = (patterns: readonly string[]) => ipMatcher(patterns);
const lists = (patterns: readonly string[]) => {
  const m = anyOf(patterns);
  return (values: readonly string[]) => values.some(m);
};
const windows = (patterns: readonly string[]) => {
  const parsed = patterns.map(parseTimeWindow).filter((w): w is TimeWindow => typeof w !== 'string');
  return (ms: number) => parsed.some((w) => inWindow(ms, w));
};

/** HTTP-only predicates: what they answer on plain TCP depends on the action (see the header). */
function httpOnly(tcp: boolean, p: Predicate): Predicate {
  // An unset field constrains nothing, on TCP as on HTTP.
  if (p === always) return always;
  return (a) => (a.http ? p(a) : tcp);
}

function and(parts: Predicate[]): Predicate {
  const ps = parts.filter((p) => p !== always);
  if (ps.length === 0) return always;
  if (ps.length === 1) return ps[0] ?? always;
  return (a) => {
    for (const p of ps) if (!p(a)) return false;
    return true;
  };
}

function or(parts: Predicate[]): Predicate {
  if (parts.length === 1) return parts[0] ?? always;
  return (a) => {
    for (const p of parts) if (p(a)) return true;
    return false;
  };
}

/**
 * `<namespace>/<name>` service accounts against a principal without `spiffe://`, as Istio's
 * builder does: `<trust domain>/ns/<namespace>/[<k>/<v>/]sa/<name>[/<more>]`.
 */
const serviceAccounts = (patterns: readonly string[]) => {
  const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const alternatives = patterns.map((p) => {
    const [ns = '', sa = ''] = p.split('/');
    return `ns/${escape(ns)}/(?:.+/|)sa/${escape(sa)}(?:/.+)?`;
  });
  const re = new RegExp(`^.+/(?:${alternatives.join('|')})$`);
  return (principal: string) => re.test(principal);
};

/** The trust domain of a principal without `spiffe://`: everything before the first `/`. */
const trustDomainOf = (principal: string | undefined): string | undefined => {
  if (principal === undefined) return undefined;
  const slash = principal.indexOf('/');
  return slash > 0 ? principal.slice(0, slash) : undefined;
};

function source(s: Source, tcp: boolean): Predicate {
  return and([
    positiveNegative((a) => a.principal, strings(), s.principals, s.notPrincipals),
    positiveNegative((a) => a.principal, serviceAccounts, s.serviceAccounts, s.notServiceAccounts),
    positiveNegative((a) => trustDomainOf(a.principal), strings(), s.trustDomains, s.notTrustDomains),
    httpOnly(
      tcp,
      positiveNegative((a) => a.authPrincipal, strings(), s.requestPrincipals, s.notRequestPrincipals),
    ),
    positiveNegative((a) => a.sourceNamespace, strings(), s.namespaces, s.notNamespaces),
    positiveNegative((a) => a.sourceIp, ips, s.ipBlocks, s.notIpBlocks),
    positiveNegative((a) => a.remoteIp, ips, s.remoteIpBlocks, s.notRemoteIpBlocks),
  ]);
}

function operation(o: Operation, tcp: boolean): Predicate {
  const paths = (patterns: readonly string[]) => pathMatcher(patterns);
  return and([
    httpOnly(
      tcp,
      positiveNegative((a) => a.host, strings(true), o.hosts, o.notHosts),
    ),
    positiveNegative((a) => a.destinationPort, strings(), o.ports, o.notPorts),
    httpOnly(
      tcp,
      positiveNegative((a) => a.method, strings(), o.methods, o.notMethods),
    ),
    httpOnly(
      tcp,
      positiveNegative((a) => a.path, paths, o.paths, o.notPaths),
    ),
  ]);
}

function claim(
  claims: Record<string, unknown> | undefined,
  path: readonly string[],
): readonly string[] | undefined {
  let v: unknown = claims;
  for (const key of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  // Istio matches string claims and lists of strings; any other type is treated as absent.
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return undefined;
}

function condition(c: Condition, tcp: boolean): Predicate {
  const parsed = parseConditionKey(c.key);
  // parse.ts never lets a bad key through; if one arrives anyway, match nothing in ALLOW and
  // everything in DENY, the same direction as every other fail-safe here.
  if (typeof parsed === 'string') return () => tcp;
  const arg = parsed.args[0] ?? '';
  const { values, notValues } = c;
  let p: Predicate;
  switch (parsed.attribute.name) {
    case 'request.headers': {
      const name = arg.toLowerCase();
      p = positiveNegative((a) => a.headers.get(name), strings(), values, notValues);
      break;
    }
    case 'source.ip':
      p = positiveNegative((a) => a.sourceIp, ips, values, notValues);
      break;
    case 'remote.ip':
      p = positiveNegative((a) => a.remoteIp, ips, values, notValues);
      break;
    case 'destination.ip':
      p = positiveNegative((a) => a.destinationIp, ips, values, notValues);
      break;
    case 'source.namespace':
      p = positiveNegative((a) => a.sourceNamespace, strings(), values, notValues);
      break;
    case 'source.principal':
      p = positiveNegative((a) => a.principal, strings(), values, notValues);
      break;
    case 'source.serviceAccount':
      p = positiveNegative((a) => a.principal, serviceAccounts, values, notValues);
      break;
    case 'source.trustDomain':
      p = positiveNegative((a) => trustDomainOf(a.principal), strings(), values, notValues);
      break;
    case 'request.auth.principal':
      p = positiveNegative((a) => a.authPrincipal, strings(), values, notValues);
      break;
    case 'request.auth.presenter':
      p = positiveNegative((a) => a.presenter, strings(), values, notValues);
      break;
    case 'request.auth.audiences':
      p = positiveNegative((a) => (a.audiences.length ? a.audiences : undefined), lists, values, notValues);
      break;
    case 'request.auth.claims': {
      const path = parsed.args;
      p = positiveNegative((a) => claim(a.claims, path), lists, values, notValues);
      break;
    }
    case 'destination.port':
      p = positiveNegative((a) => a.destinationPort, strings(), values, notValues);
      break;
    case 'connection.sni':
      p = positiveNegative((a) => a.sni, strings(), values, notValues);
      break;
    case 'request.time':
      p = positiveNegative((a) => a.timeMs, windows, values, notValues);
      break;
    default:
      return () => tcp;
  }
  return parsed.attribute.httpOnly ? httpOnly(tcp, p) : p;
}

/** Compiles one rule for a policy with `action`. */
export function compileRule(rule: Rule, action: Action): Predicate {
  // On TCP, an HTTP-only field is a non-match for ALLOW/AUDIT and ignored for DENY/CUSTOM.
  const tcp = action === 'DENY' || action === 'CUSTOM';
  const parts: Predicate[] = [];
  if (rule.from?.length) parts.push(or(rule.from.map((s) => source(s, tcp))));
  if (rule.to?.length) parts.push(or(rule.to.map((o) => operation(o, tcp))));
  for (const c of rule.when ?? []) parts.push(condition(c, tcp));
  return and(parts);
}
