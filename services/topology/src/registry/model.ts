/**
 * The registry's entities. Keys are what `warden.topology.v1.changed` carries: a namespace by
 * name, a service or a workload by `<namespace>/<name>`.
 */

export const SourceName = {
  kubernetes: 'kubernetes',
  static: 'static',
  registration: 'registration',
} as const;
export type SourceName = (typeof SourceName)[keyof typeof SourceName];

/**
 * Precedence when two sources describe the same key: the first wins. Kubernetes is the cluster's
 * own record of what runs (the scheduler put it there); the static file is reviewed operator
 * intent, for what Kubernetes does not see (VMs, external services); registrations are asserted
 * by the workloads themselves over the `workload` credential, which any workload holds, so they
 * must never override what an operator declared or the cluster observed (a workload registering
 * under another's name would otherwise hijack its address).
 */
export const precedence: readonly SourceName[] = [
  SourceName.kubernetes,
  SourceName.static,
  SourceName.registration,
];

export const EntityKind = { namespace: 'namespace', service: 'service', workload: 'workload' } as const;
export type EntityKind = (typeof EntityKind)[keyof typeof EntityKind];

export type Protocol = 'http' | 'grpc' | 'tcp';
export type Labels = Record<string, string>;

export type Namespace = {
  name: string;
  labels: Labels;
  /** Service accounts known in the namespace (Kubernetes ServiceAccounts, or those workloads use). */
  serviceAccounts: string[];
};

export type ServicePort = { name?: string; port: number; protocol: Protocol };

export type Service = {
  namespace: string;
  name: string;
  ports: ServicePort[];
  /** Label selector of its workloads; empty when membership comes from endpoints instead. */
  selector: Labels;
  labels: Labels;
};

export type Workload = {
  namespace: string;
  name: string;
  address: string;
  /** 0 when the source knows no port (a Kubernetes pod that declares none and backs no service). */
  port: number;
  protocol: Protocol;
  labels: Labels;
  serviceAccount: string;
  spiffeId: string;
  /** Services this workload backs, by name in its namespace. */
  services: string[];
};

export type EntityOf<K extends EntityKind> = K extends 'namespace'
  ? Namespace
  : K extends 'service'
    ? Service
    : Workload;

/** One source's full view: what a static file says, or what a Kubernetes relist returned. */
export type Snapshot = {
  namespaces: Map<string, Namespace>;
  services: Map<string, Service>;
  workloads: Map<string, Workload>;
};

export const emptySnapshot = (): Snapshot => ({
  namespaces: new Map(),
  services: new Map(),
  workloads: new Map(),
});

export const qualifiedKey = (namespace: string, name: string): string => `${namespace}/${name}`;

export const keyOf = (kind: EntityKind, entity: Namespace | Service | Workload): string =>
  kind === 'namespace' ? entity.name : qualifiedKey((entity as Service | Workload).namespace, entity.name);

export function snapshotMap<K extends EntityKind>(snapshot: Snapshot, kind: K): Map<string, EntityOf<K>> {
  const map =
    kind === 'namespace' ? snapshot.namespaces : kind === 'service' ? snapshot.services : snapshot.workloads;
  return map as Map<string, EntityOf<K>>;
}

/** The SPIFFE ID of a service account (ARCHITECTURE §3): `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`. */
export const spiffeIdOf = (trustDomain: string, namespace: string, serviceAccount: string): string =>
  `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;

/** Structural equality of plain JSON-like values (entities are plain data). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  const ak = Object.keys(a);
  const bk = Object.keys(b);
  if (ak.length !== bk.length) return false;
  const bo = b as Record<string, unknown>;
  const ao = a as Record<string, unknown>;
  return ak.every((k) => Object.hasOwn(bo, k) && sameValue(ao[k], bo[k]));
}

/**
 * Adds the namespaces a snapshot's workloads and services live in but does not list, and fills
 * each namespace's service accounts from its workloads: sources other than Kubernetes know
 * namespaces only through what runs in them.
 */
export function withImpliedNamespaces(snapshot: Snapshot): Snapshot {
  const accounts = new Map<string, Set<string>>();
  const note = (ns: string): Set<string> => {
    let set = accounts.get(ns);
    if (!set) accounts.set(ns, (set = new Set()));
    return set;
  };
  for (const w of snapshot.workloads.values()) note(w.namespace).add(w.serviceAccount);
  for (const s of snapshot.services.values()) note(s.namespace);
  for (const [ns, sas] of accounts) {
    const declared = snapshot.namespaces.get(ns);
    const merged = new Set([...(declared?.serviceAccounts ?? []), ...sas]);
    snapshot.namespaces.set(ns, {
      name: ns,
      labels: declared?.labels ?? {},
      serviceAccounts: [...merged].sort(),
    });
  }
  return snapshot;
}
