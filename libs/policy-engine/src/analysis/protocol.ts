/**
 * Findings about fields that cannot apply to the traffic a rule matches:
 *
 * - http_fields_on_tcp: a rule with HTTP-only fields (`methods`, `paths`, `hosts`, their `not`
 *   forms, `requestPrincipals`, HTTP-only `when` keys) whose `to` only names ports that carry plain
 *   TCP. Istio builds such a port's filter chain without those fields: an ALLOW or AUDIT rule is
 *   dropped (it never matches), a DENY or CUSTOM rule is widened to the port (it matches every
 *   connection to it). Warden decides the same way (compile.ts), so the rule does not do what it
 *   says.
 * - non_http_method: a `methods`/`notMethods` value that is not an HTTP method (`SELECT`), or one in
 *   lower case (`get`): Istio compares the `:method` header exactly, so it never matches.
 *
 * A port is TCP when a known workload the policy selects declares it (`KnownWorkload.tcpPorts`, as
 * Istio reads its Service port's protocol) or, with no declaration, when it is the well-known port
 * of a protocol that is not HTTP (MySQL's 3306, PostgreSQL's 5432, ...).
 */
import { parseConditionKey } from '../authz/attributes.ts';
import type { Rule } from '../authz/model.ts';
import type { Finding, KnownWorkload, RuleRef } from './analyze.ts';

/** Well-known ports of protocols that are not HTTP, so a rule on them only sees plain TCP. */
export const wellKnownTcpPorts: ReadonlyMap<number, string> = new Map([
  [22, 'SSH'],
  [25, 'SMTP'],
  [1433, 'SQL Server'],
  [1521, 'Oracle'],
  [2181, 'ZooKeeper'],
  [3306, 'MySQL'],
  [4222, 'NATS'],
  [5432, 'PostgreSQL'],
  [5672, 'AMQP'],
  [6379, 'Redis'],
  [9042, 'Cassandra'],
  [9092, 'Kafka'],
  [11211, 'Memcached'],
  [27017, 'MongoDB'],
]);

/**
 * HTTP methods: RFC 9110's, PATCH (RFC 5789), QUERY, and the WebDAV and other extension methods
 * of IANA's HTTP Method Registry.
 */
const httpMethods = new Set([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY', 'PRI',
  'ACL', 'BASELINE-CONTROL', 'BIND', 'CHECKIN', 'CHECKOUT', 'COPY', 'LABEL', 'LINK', 'LOCK', 'MERGE',
  'MKACTIVITY', 'MKCALENDAR', 'MKCOL', 'MKREDIRECTREF', 'MKWORKSPACE', 'MOVE', 'ORDERPATCH',
  'PROPFIND', 'PROPPATCH', 'REBIND', 'REPORT', 'SEARCH', 'UNBIND', 'UNCHECKOUT', 'UNLINK', 'UNLOCK',
  'UPDATE', 'UPDATEREDIRECTREF', 'VERSION-CONTROL',
]); // prettier-ignore

/** The HTTP-only fields a rule uses, as written (`to.methods`, `when request.headers[x]`, ...). */
export function httpOnlyFields(rule: Rule): string[] {
  const used = new Set<string>();
  for (const o of rule.to ?? [])
    for (const f of ['methods', 'notMethods', 'paths', 'notPaths', 'hosts', 'notHosts'] as const)
      if (o[f]?.length) used.add(f);
  for (const s of rule.from ?? [])
    for (const f of ['requestPrincipals', 'notRequestPrincipals'] as const) if (s[f]?.length) used.add(f);
  for (const c of rule.when ?? []) {
    const parsed = parseConditionKey(c.key);
    if (typeof parsed !== 'string' && parsed.attribute.httpOnly) used.add(`when ${c.key}`);
  }
  return [...used];
}

/** Why `port` carries plain TCP for the workloads of `r`, or undefined when it may carry HTTP. */
function tcpBecause(port: number, selected: readonly KnownWorkload[]): string | undefined {
  const declaring = selected.find((w) => w.tcpPorts?.includes(port));
  if (declaring)
    return `${declaring.namespace}/${JSON.stringify(declaring.labels)} declares port ${port} TCP`;
  if (selected.some((w) => w.httpPorts?.includes(port))) return undefined;
  const protocol = wellKnownTcpPorts.get(port);
  return protocol ? `port ${port} is ${protocol}'s well-known port` : undefined;
}

/** The ports of `rule` when every `to` names ports and all of them are TCP, with why. */
function tcpOnlyPorts(rule: Rule, selected: readonly KnownWorkload[]): string[] | undefined {
  if (!rule.to?.length) return undefined;
  const reasons: string[] = [];
  for (const o of rule.to) {
    if (!o.ports?.length) return undefined;
    for (const p of o.ports) {
      const why = tcpBecause(Number(p), selected);
      if (!why) return undefined;
      reasons.push(why);
    }
  }
  return reasons;
}

/** `http_fields_on_tcp` and `non_http_method` findings of the valid rules `refs`. */
export function protocolFindings(
  refs: readonly RuleRef[],
  selectedBy: (r: RuleRef) => readonly KnownWorkload[],
): Finding[] {
  const findings: Finding[] = [];
  for (const r of refs) {
    const fields = httpOnlyFields(r.rule);
    const tcp = fields.length > 0 ? tcpOnlyPorts(r.rule, selectedBy(r)) : undefined;
    if (tcp) {
      const widened = r.policy.action === 'DENY' || r.policy.action === 'CUSTOM';
      const effect = widened
        ? `Istio widens the rule to the port, so it ${r.policy.action === 'DENY' ? 'denies' : 'sends to the provider'} every connection to it`
        : 'Istio drops the rule, so it never matches';
      findings.push({
        kind: 'http_fields_on_tcp',
        subject: r.name,
        message: `${r.name} uses HTTP-only ${fields.join(', ')} but only matches plain TCP (${[...new Set(tcp)].join('; ')}): ${effect}`,
      });
    }
    const bad = new Set<string>();
    for (const o of r.rule.to ?? [])
      for (const m of [...(o.methods ?? []), ...(o.notMethods ?? [])])
        if (!m.includes('*') && !httpMethods.has(m)) bad.add(m);
    for (const m of bad) {
      const upper = m.toUpperCase();
      const why = httpMethods.has(upper)
        ? `methods are compared exactly and requests say ${upper}`
        : 'it is not an HTTP method (Istio matches the HTTP :method header; a TCP protocol has none)';
      findings.push({
        kind: 'non_http_method',
        subject: r.name,
        message: `${r.name}: method ${JSON.stringify(m)} never matches: ${why}`,
      });
    }
  }
  return findings;
}
