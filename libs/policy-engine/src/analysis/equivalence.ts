/**
 * Differential evaluation: two policy sets are run on the same generated requests and their
 * decisions compared (allowed, and whether the request is marked for audit). Requests are built
 * from the literals the policies mention (principals, namespaces, methods, paths, ports, hosts,
 * header values, addresses), mixed with values none of them mention, plaintext and TCP requests,
 * so that every rule is exercised on both sides of its boundary.
 */
import { DEFAULT_ROOT_NAMESPACE } from '../authz/model.ts';
import type { AuthorizationPolicy, AuthzRequest, Decision, Rule } from '../authz/model.ts';
import { PolicyRevision } from '../authz/revision.ts';
import type { RevisionOptions } from '../authz/revision.ts';

/** mulberry32: small, fast and reproducible from a seed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A concrete value a pattern matches (`/api/*` → `/api/x`), and one just outside it. */
function instances(pattern: string): string[] {
  if (pattern === '*') return ['any'];
  const concrete = pattern
    .replace(/\{\*\*\}/g, 'a/b')
    .replace(/\{\*\}/g, 'seg')
    .replace(/^\*/, 'pre')
    .replace(/\*$/, 'x');
  return [concrete, `${concrete}z`, pattern.replace(/\*/g, '')];
}

type Vocabulary = {
  workloads: { namespace: string; labels: Record<string, string> }[];
  principals: string[];
  methods: string[];
  paths: string[];
  ports: number[];
  hosts: string[];
  headers: [string, string[]][];
  ips: string[];
};

/** The principal of service account `<namespace>/<name>` in the default trust domain. */
const serviceAccountPrincipal = (sa: string): string => {
  const [ns = '', name = ''] = sa.split('/');
  return `cluster.local/ns/${ns}/sa/${name}`;
};

function vocabulary(policies: readonly AuthorizationPolicy[]): Vocabulary {
  const namespaces = new Set<string>(['other']);
  const principals = new Set<string>(['cluster.local/ns/other/sa/nobody']);
  const methods = new Set<string>(['GET', 'POST', 'OPTIONS']);
  const paths = new Set<string>(['/', '/unlisted/path']);
  const ports = new Set<number>([8080, 1]);
  const hosts = new Set<string>(['unlisted.example']);
  const headers = new Map<string, Set<string>>();
  const ips = new Set<string>(['192.0.2.1']);
  const workloads: Vocabulary['workloads'] = [{ namespace: 'other', labels: { app: 'other' } }];
  for (const p of policies) {
    namespaces.add(p.namespace);
    workloads.push({ namespace: p.namespace, labels: { ...(p.selector ?? {}) } });
    for (const rule of p.rules) {
      for (const s of rule.from ?? []) {
        for (const v of [...(s.principals ?? []), ...(s.notPrincipals ?? [])])
          for (const x of instances(v)) principals.add(x);
        for (const v of [...(s.namespaces ?? []), ...(s.notNamespaces ?? [])])
          for (const x of instances(v)) principals.add(`cluster.local/ns/${x}/sa/client`);
        for (const v of [...(s.serviceAccounts ?? []), ...(s.notServiceAccounts ?? [])])
          principals.add(serviceAccountPrincipal(v));
        for (const v of [...(s.trustDomains ?? []), ...(s.notTrustDomains ?? [])])
          for (const x of instances(v)) principals.add(`${x}/ns/default/sa/client`);
        for (const v of [
          ...(s.ipBlocks ?? []),
          ...(s.notIpBlocks ?? []),
          ...(s.remoteIpBlocks ?? []),
          ...(s.notRemoteIpBlocks ?? []),
        ])
          ips.add(v.split('/')[0] ?? v);
      }
      for (const o of rule.to ?? []) {
        for (const v of [...(o.methods ?? []), ...(o.notMethods ?? [])])
          for (const x of instances(v)) if (/^[A-Za-z]+$/.test(x)) methods.add(x);
        for (const v of [...(o.paths ?? []), ...(o.notPaths ?? [])])
          for (const x of instances(v)) if (x.startsWith('/')) paths.add(x);
        for (const v of [...(o.ports ?? []), ...(o.notPorts ?? [])]) ports.add(Number(v));
        for (const v of [...(o.hosts ?? []), ...(o.notHosts ?? [])])
          for (const x of instances(v)) hosts.add(x);
      }
      for (const c of rule.when ?? []) {
        const m = /^request\.headers\[(.+)\]$/.exec(c.key);
        if (!m?.[1]) continue;
        const set = headers.get(m[1]) ?? new Set<string>(['unlisted']);
        for (const v of [...(c.values ?? []), ...(c.notValues ?? [])])
          for (const x of instances(v)) set.add(x);
        headers.set(m[1], set);
      }
    }
  }
  // Workloads also get the labels of other policies' selectors, so root-namespace and
  // namespace-wide policies meet selected ones.
  for (const ns of namespaces) workloads.push({ namespace: ns, labels: {} });
  return {
    workloads,
    principals: [...principals],
    methods: [...methods],
    paths: [...paths],
    ports: [...ports],
    hosts: [...hosts],
    headers: [...headers].map(([k, v]) => [k, [...v]]),
    ips: [...ips],
  };
}

/** `count` requests drawn from what the policies mention, reproducible from `seed`. */
export function* generateRequests(
  policies: readonly AuthorizationPolicy[],
  count: number,
  seed = 1,
): Generator<AuthzRequest> {
  const v = vocabulary(policies);
  const rand = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const rules = policies.flatMap((p) => p.rules.map((rule) => ({ policy: p, rule })));
  for (let i = 0; i < count; i++) {
    // Half the requests are aimed at one rule (then perturbed), so allows and rule boundaries are
    // exercised, not just the default deny; the other half are drawn at random.
    const aimed = rules.length > 0 && rand() < 0.5 ? pick(rules) : undefined;
    if (aimed) {
      yield aimedRequest(aimed.policy, aimed.rule, v, rand);
      continue;
    }
    const workload = pick(v.workloads);
    const headers: Record<string, string> = {};
    for (const [name, values] of v.headers) if (rand() < 0.7) headers[name] = pick(values);
    const plaintext = rand() < 0.1;
    const tcp = rand() < 0.1;
    const request: AuthzRequest = {
      destination: { namespace: workload.namespace, labels: workload.labels, port: pick(v.ports) },
      source: { ip: pick(v.ips), ...(plaintext ? {} : { principal: pick(v.principals) }) },
    };
    if (!tcp) request.http = { method: pick(v.methods), path: pick(v.paths), host: pick(v.hosts), headers };
    yield request;
  }
}

/** A request meant to match `rule`, with one attribute replaced by a random one a third of the time. */
function aimedRequest(
  policy: AuthorizationPolicy,
  rule: Rule,
  v: Vocabulary,
  rand: () => number,
): AuthzRequest {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const first = <T>(list: readonly string[] | undefined, fallback: T, map: (x: string) => T): T =>
    list?.length ? map(pick(list)) : fallback;
  const source = rule.from?.length ? pick(rule.from) : {};
  const op = rule.to?.length ? pick(rule.to) : {};
  const inst = (p: string) => instances(p)[0] ?? p;
  let principal = first(source.principals, pick(v.principals), inst);
  if (source.namespaces?.length) principal = `cluster.local/ns/${inst(pick(source.namespaces))}/sa/client`;
  if (source.serviceAccounts?.length) principal = serviceAccountPrincipal(pick(source.serviceAccounts));
  const headers: Record<string, string> = {};
  for (const c of rule.when ?? []) {
    const m = /^request\.headers\[(.+)\]$/.exec(c.key);
    if (m?.[1] && c.values?.length) headers[m[1]] = inst(pick(c.values));
  }
  const workload =
    policy.namespace === DEFAULT_ROOT_NAMESPACE
      ? pick(v.workloads)
      : { namespace: policy.namespace, labels: { ...(policy.selector ?? {}) } };
  const request: AuthzRequest = {
    destination: {
      namespace: workload.namespace,
      labels: workload.labels,
      port: first(op.ports, pick(v.ports), Number),
    },
    source: { principal, ip: first(source.ipBlocks, pick(v.ips), (b) => b.split('/')[0] ?? b) },
    http: {
      method: first(op.methods, pick(v.methods), (m) => (/^[A-Za-z]+$/.test(inst(m)) ? inst(m) : 'GET')),
      path: first(op.paths, pick(v.paths), (p) => (inst(p).startsWith('/') ? inst(p) : `/${inst(p)}`)),
      host: first(op.hosts, pick(v.hosts), inst),
      headers,
    },
  };
  const roll = rand();
  if (roll < 0.08 && request.source) request.source.principal = pick(v.principals);
  else if (roll < 0.16 && request.http) request.http.method = pick(v.methods);
  else if (roll < 0.24 && request.http) request.http.path = pick(v.paths);
  else if (roll < 0.3) request.destination = { ...request.destination, ...pick(v.workloads) };
  return request;
}

export type Mismatch = { request: AuthzRequest; before: Decision; after: Decision };

/** `allowed`: how many requests the first set allowed, to show both outcomes were exercised. */
export type EquivalenceReport = { checked: number; allowed: number; mismatches: Mismatch[] };

/** Runs both sets on the same requests; stops collecting after `maxMismatches` differences. */
export function checkEquivalence(
  before: readonly AuthorizationPolicy[],
  after: readonly AuthorizationPolicy[],
  options: RevisionOptions & { requests?: number; seed?: number; maxMismatches?: number } = {},
): EquivalenceReport {
  const a = new PolicyRevision(before, options);
  const b = new PolicyRevision(after, options);
  const mismatches: Mismatch[] = [];
  let checked = 0;
  let allowed = 0;
  for (const request of generateRequests(before, options.requests ?? 10_000, options.seed ?? 1)) {
    checked++;
    const x = a.decide(request);
    const y = b.decide(request);
    if (x.allowed) allowed++;
    if (x.allowed !== y.allowed || x.audit.length > 0 !== y.audit.length > 0) {
      mismatches.push({ request, before: x, after: y });
      if (mismatches.length >= (options.maxMismatches ?? 10)) break;
    }
  }
  return { checked, allowed, mismatches };
}
