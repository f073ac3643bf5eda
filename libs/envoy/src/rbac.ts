/**
 * AuthorizationPolicy → Envoy RBAC (`envoy.config.rbac.v3.RBAC`), following Istio's own mapping
 * (pilot/pkg/security/authz): one RBAC policy per rule, named as the decision point names it
 * (`ns[foo]-policy[bar]-rule[0]`); `from` becomes principals, `to` permissions, each `when`
 * condition lands on the side its attribute belongs to; a DENY filter runs before an ALLOW filter.
 *
 * Where Warden departs from Istio it is to match `@warden/policy-engine` exactly:
 * - `*` means "present and non-empty" (a `.+` regex), as the decision point reads it;
 * - path templates (`{*}`, `{**}`) become a regex on the path, which both Envoy and proxyless
 *   gRPC evaluate (Istio emits `uri_template`, which gRPC does not know);
 * - the mesh default (deny when no ALLOW policy selects the workload) is an ALLOW filter with no
 *   policy, so it denies everything; Istio allows such a workload.
 *
 * RBAC cannot express everything: CUSTOM providers (Rego), `request.time`, request principals and
 * JWT claims (no `istio_authn` metadata in Warden's data planes). What happens to a rule that uses
 * them depends on what runs after the RBAC filters:
 * - `deny` (proxyless gRPC: nothing runs after): the filters must never allow what the decision
 *   point would deny. An ALLOW rule using them is dropped, a DENY rule loses those conditions
 *   (so it matches more), and a CUSTOM rule denies what it covers.
 * - `defer` (Envoy: ext_authz runs after and decides precisely): the filters must never deny what
 *   the decision point would allow. An ALLOW rule loses those conditions, a DENY rule using them is
 *   dropped, and CUSTOM rules are left to ext_authz.
 * Each such change is reported in `notes`, so the enforcer can say why a workload is stricter.
 */
import { parseConditionKey } from '@warden/policy-engine';
import type {
  AuthorizationPolicy,
  Condition,
  MeshDefault,
  Operation,
  Rule,
  Source,
} from '@warden/policy-engine';

export type StringMatcher =
  | { exact: string; ignore_case?: boolean }
  | { prefix: string; ignore_case?: boolean }
  | { suffix: string; ignore_case?: boolean }
  | { safe_regex: { regex: string } };

export type CidrRange = { address_prefix: string; prefix_len: { value: number } };
export type HeaderMatcher = { name: string; string_match: StringMatcher };

export type Permission =
  | { any: true }
  | { and_rules: { rules: Permission[] } }
  | { or_rules: { rules: Permission[] } }
  | { not_rule: Permission }
  | { header: HeaderMatcher }
  | { url_path: { path: StringMatcher } }
  | { destination_ip: CidrRange }
  | { destination_port: number }
  | { requested_server_name: StringMatcher };

export type Principal =
  | { any: true }
  | { and_ids: { ids: Principal[] } }
  | { or_ids: { ids: Principal[] } }
  | { not_id: Principal }
  | { authenticated: { principal_name: StringMatcher } }
  | { direct_remote_ip: CidrRange }
  | { remote_ip: CidrRange }
  | { header: HeaderMatcher };

export type RbacPolicy = { permissions: Permission[]; principals: Principal[] };
export type Rbac = { action: 'ALLOW' | 'DENY'; policies: Record<string, RbacPolicy> };

/** What runs after the RBAC filters; see the module comment. */
export type Inexpressible = 'deny' | 'defer';

export type RbacFilters = {
  /** Rules that deny, first in the chain; absent when nothing denies. */
  deny?: Rbac;
  /** Rules that allow; absent when the mesh default allows a workload no ALLOW policy selects. */
  allow?: Rbac;
  /** Every rule the translation had to drop or widen, and why. */
  notes: string[];
};

const SPIFFE = 'spiffe://';

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Istio's value forms: `*` presence, `*suffix`, `prefix*`, exact; `prefix` prepends to exact/prefix. */
function stringMatcher(pattern: string, prefix = '', ignoreCase = false): StringMatcher {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (pattern === '*') return { safe_regex: { regex: '.+' } };
  if (pattern.startsWith('*')) return { suffix: pattern.slice(1), ...ic };
  if (pattern.endsWith('*')) return { prefix: `${prefix}${pattern.slice(0, -1)}`, ...ic };
  return { exact: `${prefix}${pattern}`, ...ic };
}

/** One path segment's worth of an Istio value form, as a regex (namespaces, trust domains). */
function segmentRegex(pattern: string): string {
  if (pattern === '*') return '[^/]+';
  if (pattern.startsWith('*')) return `[^/]*${escapeRegex(pattern.slice(1))}`;
  if (pattern.endsWith('*')) return `${escapeRegex(pattern.slice(0, -1))}[^/]*`;
  return escapeRegex(pattern);
}

const templateOperator = /\{\*\*?\}/;

/** Envoy's URI template semantics, as a regex: `{*}` one non-empty segment, `{**}` anything. */
function pathMatcher(pattern: string): StringMatcher {
  if (!templateOperator.test(pattern)) return stringMatcher(pattern);
  const regex = pattern
    .split('/')
    .map((segment) => (segment === '{*}' ? '[^/]+' : segment === '{**}' ? '.*' : escapeRegex(segment)))
    .join('/');
  return { safe_regex: { regex } };
}

function cidr(block: string): CidrRange {
  const [address = '', bits] = block.split('/');
  const max = address.includes(':') ? 128 : 32;
  return { address_prefix: address, prefix_len: { value: bits === undefined ? max : Number(bits) } };
}

const principalName = (m: StringMatcher): Principal => ({ authenticated: { principal_name: m } });
const principalRegex = (regex: string): Principal => principalName({ safe_regex: { regex } });

const anyPrincipal: Principal = { any: true };
const anyPermission: Permission = { any: true };

function orIds(ids: Principal[]): Principal {
  return ids.length === 1 && ids[0] ? ids[0] : { or_ids: { ids } };
}
function andIds(ids: Principal[]): Principal {
  if (ids.length === 0) return anyPrincipal;
  return ids.length === 1 && ids[0] ? ids[0] : { and_ids: { ids } };
}
function orRules(rules: Permission[]): Permission {
  return rules.length === 1 && rules[0] ? rules[0] : { or_rules: { rules } };
}
function andRules(rules: Permission[]): Permission {
  if (rules.length === 0) return anyPermission;
  return rules.length === 1 && rules[0] ? rules[0] : { and_rules: { rules } };
}

/** `values` (any of) and `notValues` (none of) as conjuncts. */
function principalField(
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  one: (value: string) => Principal,
): Principal[] {
  const out: Principal[] = [];
  if (values?.length) out.push(orIds(values.map(one)));
  if (notValues?.length) out.push({ not_id: orIds(notValues.map(one)) });
  return out;
}
function permissionField(
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  one: (value: string) => Permission,
): Permission[] {
  const out: Permission[] = [];
  if (values?.length) out.push(orRules(values.map(one)));
  if (notValues?.length) out.push({ not_rule: orRules(notValues.map(one)) });
  return out;
}

const principal = (v: string): Principal => principalName(stringMatcher(v, SPIFFE));
const namespace = (v: string): Principal => principalRegex(`.*/ns/${segmentRegex(v)}/.*`);
const trustDomain = (v: string): Principal => principalRegex(`spiffe://${segmentRegex(v)}/.*`);
/** `<namespace>/<name>`, matched the way Istio's builder and the decision point match it. */
function serviceAccount(v: string): Principal {
  const [ns = '', sa = ''] = v.split('/');
  return principalRegex(`spiffe://.+/ns/${escapeRegex(ns)}/(?:.+/|)sa/${escapeRegex(sa)}(?:/.+)?`);
}
const sourceIp = (v: string): Principal => ({ direct_remote_ip: cidr(v) });
const remoteIp = (v: string): Principal => ({ remote_ip: cidr(v) });
const header =
  (name: string, ignoreCase = false) =>
  (v: string): HeaderMatcher => ({
    name: name.toLowerCase(),
    string_match: stringMatcher(v, '', ignoreCase),
  });

/** The conditions RBAC cannot express, by attribute; everything else has a mapping below. */
const inexpressibleAttributes = new Set([
  'request.time',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'request.auth.claims',
]);

type Translated = { principals: Principal[]; permissions: Permission[]; dropped: string[] };

function sourceIds(s: Source, dropped: string[]): Principal {
  if (s.requestPrincipals?.length || s.notRequestPrincipals?.length) dropped.push('requestPrincipals');
  return andIds([
    ...principalField(s.principals, s.notPrincipals, principal),
    ...principalField(s.serviceAccounts, s.notServiceAccounts, serviceAccount),
    ...principalField(s.trustDomains, s.notTrustDomains, trustDomain),
    ...principalField(s.namespaces, s.notNamespaces, namespace),
    ...principalField(s.ipBlocks, s.notIpBlocks, sourceIp),
    ...principalField(s.remoteIpBlocks, s.notRemoteIpBlocks, remoteIp),
  ]);
}

function operationRules(o: Operation): Permission {
  return andRules([
    ...permissionField(o.hosts, o.notHosts, (v) => ({ header: header(':authority', true)(v) })),
    ...permissionField(o.ports, o.notPorts, (v) => ({ destination_port: Number(v) })),
    ...permissionField(o.methods, o.notMethods, (v) => ({ header: header(':method')(v) })),
    ...permissionField(o.paths, o.notPaths, (v) => ({ url_path: { path: pathMatcher(v) } })),
  ]);
}

/** Adds one `when` condition to the side its attribute belongs to, or reports it inexpressible. */
function condition(c: Condition, into: Translated): void {
  const parsed = parseConditionKey(c.key);
  const name = typeof parsed === 'string' ? c.key : parsed.attribute.name;
  if (typeof parsed === 'string' || inexpressibleAttributes.has(name)) {
    into.dropped.push(c.key);
    return;
  }
  const { values, notValues } = c;
  const ids = (one: (v: string) => Principal): void => {
    into.principals.push(...principalField(values, notValues, one));
  };
  const rules = (one: (v: string) => Permission): void => {
    into.permissions.push(...permissionField(values, notValues, one));
  };
  switch (name) {
    case 'request.headers':
      return ids((v) => ({ header: header(parsed.args[0] ?? '')(v) }));
    case 'source.ip':
      return ids(sourceIp);
    case 'remote.ip':
      return ids(remoteIp);
    case 'source.namespace':
      return ids(namespace);
    case 'source.principal':
      return ids(principal);
    case 'source.serviceAccount':
      return ids(serviceAccount);
    case 'source.trustDomain':
      return ids(trustDomain);
    case 'destination.ip':
      return rules((v) => ({ destination_ip: cidr(v) }));
    case 'destination.port':
      return rules((v) => ({ destination_port: Number(v) }));
    case 'connection.sni':
      return rules((v) => ({ requested_server_name: stringMatcher(v) }));
    default:
      into.dropped.push(c.key);
  }
}

function translateRule(rule: Rule): Translated {
  const out: Translated = { principals: [], permissions: [], dropped: [] };
  if (rule.from?.length) out.principals.push(orIds(rule.from.map((s) => sourceIds(s, out.dropped))));
  if (rule.to?.length) out.permissions.push(orRules(rule.to.map(operationRules)));
  for (const c of rule.when ?? []) condition(c, out);
  return out;
}

const policyName = (p: AuthorizationPolicy): string => `ns[${p.namespace}]-policy[${p.name}]`;

const denyEverything: RbacPolicy = { permissions: [anyPermission], principals: [anyPrincipal] };

/**
 * The RBAC filters for one workload, from the policies that apply to it (namespace, selector and
 * root namespace already resolved, e.g. by `PolicyRevision.policiesFor`), in the decision point's
 * order.
 */
export function toRbacFilters(
  policies: readonly AuthorizationPolicy[],
  options: { meshDefault: MeshDefault; namespace: string; inexpressible: Inexpressible },
): RbacFilters {
  const deny: Record<string, RbacPolicy> = {};
  const allow: Record<string, RbacPolicy> = {};
  const notes: string[] = [];
  let hasAllow = false;
  const strict = options.inexpressible === 'deny';
  for (const policy of policies) {
    const base = policyName(policy);
    if (policy.action === 'AUDIT') continue;
    if (policy.action === 'ALLOW') hasAllow = true;
    if (policy.broken !== undefined) {
      // The decision point's fail-safe: a restricting policy it cannot read denies its whole
      // scope, an ALLOW policy it cannot read allows nothing.
      if (policy.action !== 'ALLOW') deny[base] = denyEverything;
      continue;
    }
    if (policy.action === 'CUSTOM') {
      if (!strict) continue;
      notes.push(
        `${base}: CUSTOM provider ${policy.provider ?? ''} needs ext_authz; what it covers is denied`,
      );
    }
    const denies = policy.action !== 'ALLOW';
    for (const [i, rule] of policy.rules.entries()) {
      const name = `${base}-rule[${i}]`;
      if (rule.broken !== undefined && !denies) continue;
      const t = translateRule(rule);
      if (t.dropped.length > 0) {
        const what = t.dropped.join(', ');
        // Widening is safe on the side whose mistakes deny; the other side drops the rule.
        if (denies !== strict) {
          notes.push(`${name}: dropped (${what} cannot be checked here)`);
          continue;
        }
        notes.push(`${name}: ${what} ignored (${denies ? 'denies more' : 'ext_authz decides'})`);
      }
      (denies ? deny : allow)[name] = {
        permissions: [andRules(t.permissions)],
        principals: [andIds(t.principals)],
      };
    }
  }
  const fallback = options.meshDefault.namespaces?.[options.namespace] ?? options.meshDefault.default;
  const filters: RbacFilters = { notes };
  if (Object.keys(deny).length > 0) filters.deny = { action: 'DENY', policies: deny };
  if (hasAllow || fallback === 'deny') filters.allow = { action: 'ALLOW', policies: allow };
  return filters;
}
