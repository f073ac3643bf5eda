/**
 * Conservative, syntactic subsumption between rules: `ruleCovers(a, b)` is true only when every
 * request rule `b` matches is certainly matched by rule `a`. A false answer means "not proven",
 * never "proven different", so the analysis and the minimiser built on it can miss a redundancy
 * but can never drop a rule that matters.
 *
 * Attributes are compared one by one (principals with principals, hosts with hosts, ...); links
 * between attributes (a principal implies a namespace) are not used, which only makes the answer
 * more conservative.
 */
import { ipv4ToInt, isPathTemplate, stringMatcher } from '../authz/match.ts';
import type { AuthorizationPolicy, Condition, Operation, Rule, Source } from '../authz/model.ts';
import { isIPv4 } from 'node:net';

type Kind = 'string' | 'host' | 'path' | 'ip' | 'exact';

/** True when every value pattern `b` matches is also matched by pattern `a`. */
export function patternCovers(a: string, b: string, kind: Kind): boolean {
  if (kind === 'host') return patternCovers(a.toLowerCase(), b.toLowerCase(), 'string');
  if (a === b) return true;
  if (kind === 'exact') return false;
  if (kind === 'ip') return cidrCovers(a, b);
  if (a === '*') return b !== '';
  if (kind === 'path' && (isPathTemplate(a) || isPathTemplate(b))) {
    // A template is compared through its literal prefix only: `/api/*` covers `/api/{*}`.
    if (isPathTemplate(a)) return false;
    const literal = b.slice(0, b.indexOf('{'));
    return a.endsWith('*') && !a.startsWith('*') && literal.startsWith(a.slice(0, -1));
  }
  const bIsPrefix = b.endsWith('*') && b !== '*';
  const bIsSuffix = b.startsWith('*') && b !== '*';
  if (b === '*') return false;
  if (a.endsWith('*')) {
    const p = a.slice(0, -1);
    if (bIsSuffix) return false;
    return (bIsPrefix ? b.slice(0, -1) : b).startsWith(p);
  }
  if (a.startsWith('*')) {
    const s = a.slice(1);
    if (bIsPrefix) return false;
    return (bIsSuffix ? b.slice(1) : b).endsWith(s);
  }
  return false;
}

function cidr(text: string): { base: number; bits: number } | null {
  const [ip = '', bits] = text.split('/');
  if (!isIPv4(ip)) return null;
  const n = bits === undefined ? 32 : Number(bits);
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return { base: (ipv4ToInt(ip) & mask) >>> 0, bits: n };
}

function cidrCovers(a: string, b: string): boolean {
  const x = cidr(a);
  const y = cidr(b);
  if (!x || !y) return a === b;
  if (x.bits > y.bits) return false;
  const mask = x.bits === 0 ? 0 : (0xffffffff << (32 - x.bits)) >>> 0;
  return (y.base & mask) >>> 0 === x.base;
}

/** Can a value matched by pattern `b` (an exact literal) ever match pattern `n`? */
function literalMatches(n: string, b: string, kind: Kind): boolean | null {
  if (kind === 'ip' || kind === 'path') return null;
  if (b.includes('*')) return null;
  return kind === 'host' ? stringMatcher(n, true)(b.toLowerCase()) : stringMatcher(n)(b);
}

/**
 * Field-level cover: `a` (values `ap`, notValues `an`) matches everything `b` matches.
 * Positive: each of b's values is covered by one of a's. Negative: each pattern a excludes is
 * excluded by b as well, or can never match any of b's literal values.
 */
export function fieldCovers(
  ap: readonly string[] | undefined,
  an: readonly string[] | undefined,
  bp: readonly string[] | undefined,
  bn: readonly string[] | undefined,
  kind: Kind,
): boolean {
  if (ap?.length) {
    if (!bp?.length) return false;
    if (!bp.every((b) => ap.some((a) => patternCovers(a, b, kind)))) return false;
  }
  for (const n of an ?? []) {
    if (bn?.some((m) => patternCovers(m, n, kind))) continue;
    if (bp?.length && bp.every((b) => literalMatches(n, b, kind) === false)) continue;
    return false;
  }
  return true;
}

const sourceFields: [keyof Source, keyof Source, Kind][] = [
  ['principals', 'notPrincipals', 'string'],
  ['requestPrincipals', 'notRequestPrincipals', 'string'],
  ['namespaces', 'notNamespaces', 'string'],
  ['ipBlocks', 'notIpBlocks', 'ip'],
  ['remoteIpBlocks', 'notRemoteIpBlocks', 'ip'],
  // `<namespace>/<name>`, no wildcard: equal or not.
  ['serviceAccounts', 'notServiceAccounts', 'exact'],
  ['trustDomains', 'notTrustDomains', 'string'],
];

const operationFields: [keyof Operation, keyof Operation, Kind][] = [
  ['hosts', 'notHosts', 'host'],
  ['ports', 'notPorts', 'exact'],
  ['methods', 'notMethods', 'string'],
  ['paths', 'notPaths', 'path'],
];

function blockCovers<T extends Source | Operation>(a: T, b: T, fields: [keyof T, keyof T, Kind][]): boolean {
  return fields.every(([pos, neg, kind]) =>
    fieldCovers(
      a[pos] as string[] | undefined,
      a[neg] as string[] | undefined,
      b[pos] as string[] | undefined,
      b[neg] as string[] | undefined,
      kind,
    ),
  );
}

const keyKind = (key: string): Kind =>
  key === 'source.ip' || key === 'remote.ip' || key === 'destination.ip'
    ? 'ip'
    : key === 'destination.port' || key === 'request.time'
      ? 'exact'
      : 'string';

function conditionCovers(a: Condition, b: Condition): boolean {
  // Audiences and list claims match when any element matches; the cover check on values is still
  // sound because it reasons per value. Header names are case-insensitive.
  const norm = (k: string) => (k.startsWith('request.headers[') ? k.toLowerCase() : k);
  if (norm(a.key) !== norm(b.key)) return false;
  if (a.key.startsWith('request.auth.audiences') || a.key.startsWith('request.auth.claims')) {
    // List attributes: one element may satisfy b's values while another hits a's notValues, so
    // a's exclusions must be excluded by b itself.
    const excluded = (a.notValues ?? []).every((n) =>
      b.notValues?.some((m) => patternCovers(m, n, 'string')),
    );
    return excluded && fieldCovers(a.values, undefined, b.values, undefined, 'string');
  }
  return fieldCovers(a.values, a.notValues, b.values, b.notValues, keyKind(a.key));
}

function listCovers<T>(
  a: readonly T[] | undefined,
  b: readonly T[] | undefined,
  covers: (x: T, y: T) => boolean,
): boolean {
  if (!a?.length) return true;
  if (!b?.length) return false;
  return b.every((y) => a.some((x) => covers(x, y)));
}

/** Every request `b` matches, `a` matches (same action; both rules valid). */
export function ruleCovers(a: Rule, b: Rule): boolean {
  return (
    listCovers(a.from, b.from, (x, y) => blockCovers(x, y, sourceFields)) &&
    listCovers(a.to, b.to, (x, y) => blockCovers(x, y, operationFields)) &&
    (a.when ?? []).every((c) => (b.when ?? []).some((d) => conditionCovers(c, d)))
  );
}

/** Every workload policy `b` applies to, policy `a` applies to as well. */
export function scopeCovers(a: AuthorizationPolicy, b: AuthorizationPolicy, rootNamespace: string): boolean {
  if (a.namespace !== b.namespace && a.namespace !== rootNamespace) return false;
  return Object.entries(a.selector ?? {}).every(([k, v]) => b.selector?.[k] === v);
}

/** Whether some workload could be selected by both policies (conservatively true when unsure). */
export function scopesOverlap(
  a: AuthorizationPolicy,
  b: AuthorizationPolicy,
  rootNamespace: string,
): boolean {
  if (a.namespace !== b.namespace && a.namespace !== rootNamespace && b.namespace !== rootNamespace)
    return false;
  for (const [k, v] of Object.entries(a.selector ?? {}))
    if (b.selector?.[k] !== undefined && b.selector[k] !== v) return false;
  return true;
}
