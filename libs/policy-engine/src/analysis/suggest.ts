import type { AuthorizationPolicy, AuthzRequest, Operation, Rule } from '../authz/model.ts';
import { PolicyRevision } from '../authz/revision.ts';

/** A workload as the registry knows it. */
export type SuggestWorkload = {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`. */
  spiffeId: string;
};

/** An observed call: who called which workload, how, and how often (the topology call graph). */
export type ObservedEdge = {
  source: { namespace?: string | undefined; workload?: string | undefined };
  destination: { namespace?: string | undefined; workload?: string | undefined };
  /** HTTP method; `POST` for gRPC; empty for plain TCP; `OTHER` for a non-standard one. */
  method: string;
  /** Path prefix with identifier segments as `{id}`; a whole gRPC method path; empty for TCP. */
  pathPrefix: string;
  requests: number;
};

export type SuggestOptions = {
  /** More distinct prefixes than this under one first segment collapse to `/<segment>/*`. */
  collapseAbove?: number;
};

export type NotAllowed = { edge: ObservedEdge; why: string };

export type Suggestion = {
  policies: AuthorizationPolicy[];
  /** Observed edges the suggestion does not allow, and why: the dry run over the same period. */
  denied: NotAllowed[];
};

const key = (ns: string | undefined, w: string | undefined): string => `${ns ?? ''}/${w ?? ''}`;
const principalOf = (spiffeId: string): string => spiffeId.replace(/^spiffe:\/\//, '');

/** Istio path patterns that allow exactly what a prefix stands for: the prefix and below. */
function pathsFor(prefix: string, method: string): string[] {
  if (method === 'POST' && /^\/[\w.]+\/\w+$/.test(prefix) && prefix.includes('.')) return [prefix]; // gRPC
  if (prefix === '/') return ['/*'];
  if (prefix.includes('{id}')) {
    // Path templates: `{*}` is one segment, `{**}` the rest (Istio ≥ 1.23).
    const template = prefix.replace(/\{id\}/g, '{*}');
    return [template, `${template}/{**}`];
  }
  return [prefix, `${prefix}/*`];
}

/** Many prefixes sharing a first segment become one prefix wildcard. */
function collapse(prefixes: readonly string[], above: number): string[] {
  const byFirst = new Map<string, string[]>();
  for (const p of prefixes) {
    const first = p.split('/')[1] ?? '';
    byFirst.set(first, [...(byFirst.get(first) ?? []), p]);
  }
  const out: string[] = [];
  for (const [first, group] of byFirst) {
    if (group.length > above && first !== '' && !first.includes('{')) out.push(`/${first}`);
    else out.push(...group);
  }
  return out;
}

/**
 * Least privilege from observed traffic: one ALLOW policy per called workload, selecting it by
 * its labels, with one rule per calling identity allowing exactly the methods and path prefixes
 * seen. Everything else falls to the mesh default (deny). Edges that cannot be expressed safely
 * (unknown caller, non-standard method) are left out and reported as what the policy would deny.
 */
export function suggestPolicies(
  workloads: readonly SuggestWorkload[],
  edges: readonly ObservedEdge[],
  options: SuggestOptions = {},
): Suggestion {
  const above = options.collapseAbove ?? 5;
  const byKey = new Map(workloads.map((w) => [key(w.namespace, w.name), w]));
  const denied: NotAllowed[] = [];
  // destination → caller principal → method → prefixes
  const grants = new Map<string, Map<string, Map<string, Set<string>>>>();

  for (const edge of edges) {
    const destination = byKey.get(key(edge.destination.namespace, edge.destination.workload));
    const source = byKey.get(key(edge.source.namespace, edge.source.workload));
    if (!destination) {
      denied.push({ edge, why: 'the called workload is not in the registry' });
      continue;
    }
    if (!source) {
      denied.push({ edge, why: 'the caller has no known identity (not in the registry)' });
      continue;
    }
    if (edge.method === 'OTHER') {
      denied.push({ edge, why: 'non-standard HTTP method' });
      continue;
    }
    const d = key(destination.namespace, destination.name);
    const callers = grants.get(d) ?? new Map<string, Map<string, Set<string>>>();
    grants.set(d, callers);
    const methods = callers.get(principalOf(source.spiffeId)) ?? new Map<string, Set<string>>();
    callers.set(principalOf(source.spiffeId), methods);
    const prefixes = methods.get(edge.method) ?? new Set<string>();
    methods.set(edge.method, prefixes);
    prefixes.add(edge.pathPrefix);
  }

  const policies: AuthorizationPolicy[] = [];
  for (const [d, callers] of [...grants].sort(([a], [b]) => a.localeCompare(b))) {
    const workload = byKey.get(d);
    if (!workload) continue;
    const rules: Rule[] = [];
    for (const [principal, methods] of [...callers].sort(([a], [b]) => a.localeCompare(b))) {
      const operations: Operation[] = [];
      for (const [method, prefixes] of [...methods].sort(([a], [b]) => a.localeCompare(b))) {
        if (method === '') {
          // Plain TCP: the identity alone.
          operations.length = 0;
          break;
        }
        const paths = collapse([...prefixes].sort(), above).flatMap((p) => pathsFor(p, method));
        operations.push({ methods: [method], paths: [...new Set(paths)] });
      }
      const rule: Rule = { from: [{ principals: [principal] }] };
      if (operations.length > 0) rule.to = operations;
      rules.push(rule);
    }
    const selector = Object.keys(workload.labels).length > 0 ? { selector: workload.labels } : {};
    if (!selector.selector) {
      for (const edge of edges) {
        if (key(edge.destination.namespace, edge.destination.workload) === d) {
          denied.push({
            edge,
            why: 'the called workload has no labels to select it by; no policy suggested',
          });
        }
      }
      continue;
    }
    policies.push({
      apiVersion: 'security.istio.io/v1',
      name: `suggested-${workload.name}`.slice(0, 253),
      namespace: workload.namespace,
      ...selector,
      action: 'ALLOW',
      rules,
    });
  }
  return { policies, denied };
}

/** A concrete request standing for an observed edge, to check a policy set against it. */
export function requestForEdge(
  workloads: readonly SuggestWorkload[],
  edge: ObservedEdge,
): AuthzRequest | null {
  const find = (ns?: string, w?: string): SuggestWorkload | undefined =>
    workloads.find((x) => x.namespace === ns && x.name === w);
  const destination = find(edge.destination.namespace, edge.destination.workload);
  if (!destination) return null;
  const source = find(edge.source.namespace, edge.source.workload);
  const request: AuthzRequest = {
    destination: { namespace: destination.namespace, labels: destination.labels },
  };
  if (source) request.source = { principal: source.spiffeId };
  if (edge.method !== '') {
    request.http = {
      method: edge.method === 'OTHER' ? 'PROPFIND' : edge.method,
      path: edge.pathPrefix.replace(/\{id\}/g, '0'),
    };
  }
  return request;
}

/** Replays the edges through a policy set: which would it deny? */
export function deniedEdges(
  policies: readonly AuthorizationPolicy[],
  workloads: readonly SuggestWorkload[],
  edges: readonly ObservedEdge[],
): ObservedEdge[] {
  const revision = new PolicyRevision(policies);
  return edges.filter((edge) => {
    const request = requestForEdge(workloads, edge);
    return request === null || !revision.decide(request).allowed;
  });
}
