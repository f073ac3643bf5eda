import type { Labels, Protocol, ServicePort } from '../registry/model.ts';
import { protocolOf } from '../registry/validation.ts';

/**
 * Kubernetes objects arrive as untyped JSON (watch events) or loosely typed models (lists), and
 * anything may be missing. These functions read only what the registry needs and say what is
 * missing instead of throwing, so one odd object is a warning, never a crash.
 */

export type Problem = { problem: string };
export const isProblem = (v: unknown): v is Problem =>
  typeof v === 'object' && v !== null && 'problem' in v && Object.keys(v).length === 1;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const MAX_LABELS = 64;

/** String-valued labels only, at most 64 (the registry's limit for every source). */
function labelsOf(v: unknown): Labels {
  const out: Labels = {};
  let n = 0;
  for (const [k, value] of Object.entries(obj(v) ?? {})) {
    if (typeof value !== 'string' || k.length > 317 || value.length > 63) continue;
    if (++n > MAX_LABELS) break;
    out[k] = value;
  }
  return out;
}

export type Meta = { namespace?: string; name: string; resourceVersion?: string; labels: Labels };

export function metaOf(o: unknown, namespaced: boolean): Meta | Problem {
  const meta = obj(obj(o)?.['metadata']);
  const name = str(meta?.['name']);
  if (!meta || !name) return { problem: 'metadata.name is missing' };
  const namespace = str(meta['namespace']);
  if (namespaced && !namespace) return { problem: `metadata.namespace is missing on ${name}` };
  return { name, namespace, resourceVersion: str(meta['resourceVersion']), labels: labelsOf(meta['labels']) };
}

export const resourceVersionOf = (o: unknown): string | undefined =>
  str(obj(obj(o)?.['metadata'])?.['resourceVersion']);

export type PodInfo = {
  namespace: string;
  name: string;
  /** Undefined while the pod has no IP yet (pending) or once it has finished. */
  address: string | undefined;
  ports: ServicePort[];
  serviceAccount: string;
  labels: Labels;
};

export function podOf(o: unknown): PodInfo | Problem {
  const meta = metaOf(o, true);
  if (isProblem(meta)) return meta;
  const spec = obj(obj(o)?.['spec']);
  const status = obj(obj(o)?.['status']);
  if (!spec) return { problem: `pod ${meta.namespace}/${meta.name}: spec is missing` };
  const phase = str(status?.['phase']);
  const ports: ServicePort[] = [];
  for (const container of arr(spec['containers'])) {
    for (const p of arr(obj(container)?.['ports'])) {
      const port = obj(p)?.['containerPort'];
      if (typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536)
        ports.push({ port, protocol: protocolOf(undefined, obj(p)?.['name']), name: str(obj(p)?.['name']) });
    }
  }
  const finished = phase === 'Succeeded' || phase === 'Failed';
  return {
    namespace: meta.namespace ?? '',
    name: meta.name,
    address: finished ? undefined : str(status?.['podIP']),
    ports,
    serviceAccount: str(spec['serviceAccountName']) ?? str(spec['serviceAccount']) ?? 'default',
    labels: meta.labels,
  };
}

export type ServiceInfo = {
  namespace: string;
  name: string;
  ports: ServicePort[];
  selector: Labels;
  labels: Labels;
};

export function serviceOf(o: unknown): ServiceInfo | Problem {
  const meta = metaOf(o, true);
  if (isProblem(meta)) return meta;
  const spec = obj(obj(o)?.['spec']);
  if (!spec) return { problem: `service ${meta.namespace}/${meta.name}: spec is missing` };
  const ports: ServicePort[] = [];
  for (const p of arr(spec['ports'])) {
    const port = obj(p)?.['port'];
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    const name = str(obj(p)?.['name']);
    ports.push({ port, protocol: protocolOf(obj(p)?.['appProtocol'], name), ...(name ? { name } : {}) });
  }
  return {
    namespace: meta.namespace ?? '',
    name: meta.name,
    ports,
    selector: labelsOf(spec['selector']),
    labels: meta.labels,
  };
}

export type SliceInfo = {
  namespace: string;
  name: string;
  service: string | undefined;
  /** Pod names (in the slice's namespace) this slice routes to. */
  pods: string[];
  ports: { port: number; protocol: Protocol }[];
};

export function endpointSliceOf(o: unknown): SliceInfo | Problem {
  const meta = metaOf(o, true);
  if (isProblem(meta)) return meta;
  const pods: string[] = [];
  for (const e of arr(obj(o)?.['endpoints'])) {
    const ref = obj(obj(e)?.['targetRef']);
    const name = str(ref?.['name']);
    if (name && (ref?.['kind'] === undefined || ref['kind'] === 'Pod')) pods.push(name);
  }
  const ports: SliceInfo['ports'] = [];
  for (const p of arr(obj(o)?.['ports'])) {
    const port = obj(p)?.['port'];
    if (typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536)
      ports.push({ port, protocol: protocolOf(obj(p)?.['appProtocol'], obj(p)?.['name']) });
  }
  return {
    namespace: meta.namespace ?? '',
    name: meta.name,
    service: meta.labels['kubernetes.io/service-name'],
    pods,
    ports,
  };
}
