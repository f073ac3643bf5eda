import { CoreV1Api, DiscoveryV1Api, KubeConfig } from '@kubernetes/client-node';
import { KubernetesError } from '../errors.ts';
import type { TopologyMetrics } from '../metrics.ts';
import type { Namespace, Service, Snapshot, Workload } from '../registry/model.ts';
import { emptySnapshot, qualifiedKey, spiffeIdOf } from '../registry/model.ts';
import type { Log, RegistrySource, SourceSink } from '../registry/source.ts';
import type { PodInfo, Problem, ServiceInfo, SliceInfo } from './convert.ts';
import { endpointSliceOf, isProblem, metaOf, podOf, serviceOf } from './convert.ts';
import type { ListPage } from './watch.ts';
import { ResourceWatch } from './watch.ts';

export type KubernetesSourceOptions = {
  sink: SourceSink;
  log: Log;
  metrics: TopologyMetrics;
  trustDomain: string;
  /** 'in-cluster', or the path of a kubeconfig file. */
  config: string;
  pageSize?: number;
  /** Watch events within this many milliseconds are applied together. */
  coalesceMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
};

type Store<T> = Map<string, T>;

/** Loads credentials the way the client does: the pod's service account, or a kubeconfig. */
export function loadKubeConfig(config: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (config === 'in-cluster') kc.loadFromCluster();
    else kc.loadFromFile(config);
  } catch (cause) {
    throw new KubernetesError(`cannot load the Kubernetes configuration (${config}): ${String(cause)}`, {
      cause,
    });
  }
  if (!kc.getCurrentCluster())
    throw new KubernetesError(`no current cluster in the Kubernetes configuration (${config})`);
  return kc;
}

/**
 * The Kubernetes API as a registry source: Namespaces, Pods, Services, EndpointSlices and
 * ServiceAccounts, each listed then watched. Workloads are pods with an IP; their services come
 * from the EndpointSlices that route to them, and a pod that declares no port takes its first
 * slice's port. Objects missing what the registry needs are skipped with a warning and a metric.
 */
export class KubernetesSource implements RegistrySource {
  readonly name = 'kubernetes' as const;
  private readonly options: KubernetesSourceOptions;
  private readonly namespaces: Store<{ name: string; labels: Record<string, string> }> = new Map();
  private readonly accounts: Store<Set<string>> = new Map();
  private readonly pods: Store<PodInfo> = new Map();
  private readonly services: Store<ServiceInfo> = new Map();
  private readonly slices: Store<SliceInfo> = new Map();
  /** Pod key → slice keys routing to it. */
  private readonly podSlices: Store<Set<string>> = new Map();
  private readonly watches: ResourceWatch[] = [];
  private started = false;
  private publishTimer: NodeJS.Timeout | undefined;

  constructor(options: KubernetesSourceOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    const kc = loadKubeConfig(this.options.config);
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const limit = this.options.pageSize ?? 500;
    const page = (p: Promise<unknown>): Promise<ListPage> => p as Promise<ListPage>;
    const specs = [
      {
        resource: 'namespaces',
        path: '/api/v1/namespaces',
        list: (c: string | undefined) => page(core.listNamespace({ limit, _continue: c })),
        apply: (o: unknown, deleted: boolean) => this.applyNamespace(o, deleted),
        reset: () => this.namespaces.clear(),
      },
      {
        resource: 'serviceaccounts',
        path: '/api/v1/serviceaccounts',
        list: (c: string | undefined) =>
          page(core.listServiceAccountForAllNamespaces({ limit, _continue: c })),
        apply: (o: unknown, deleted: boolean) => this.applyAccount(o, deleted),
        reset: () => this.accounts.clear(),
      },
      {
        resource: 'services',
        path: '/api/v1/services',
        list: (c: string | undefined) => page(core.listServiceForAllNamespaces({ limit, _continue: c })),
        apply: (o: unknown, deleted: boolean) => this.applyService(o, deleted),
        reset: () => this.services.clear(),
      },
      {
        resource: 'endpointslices',
        path: '/apis/discovery.k8s.io/v1/endpointslices',
        list: (c: string | undefined) =>
          page(discovery.listEndpointSliceForAllNamespaces({ limit, _continue: c })),
        apply: (o: unknown, deleted: boolean) => this.applySlice(o, deleted),
        reset: () => {
          this.slices.clear();
          this.podSlices.clear();
        },
      },
      {
        resource: 'pods',
        path: '/api/v1/pods',
        list: (c: string | undefined) => page(core.listPodForAllNamespaces({ limit, _continue: c })),
        apply: (o: unknown, deleted: boolean) => this.applyPod(o, deleted),
        reset: () => this.pods.clear(),
      },
    ];
    for (const spec of specs) {
      const watch = new ResourceWatch({
        kc,
        resource: spec.resource,
        path: spec.path,
        list: spec.list,
        onList: (items) => {
          spec.reset();
          for (const item of items) spec.apply(item, false);
          // Once every collection is listed, each relist replaces the whole layer: that is what
          // removes objects deleted while the watch was away.
          if (this.started) this.schedulePublish();
        },
        onEvent: (type, object) => {
          spec.apply(object, type === 'DELETED');
          if (this.started) this.schedulePublish();
        },
        log: this.options.log,
        metrics: this.options.metrics,
        minBackoffMs: this.options.minBackoffMs,
        maxBackoffMs: this.options.maxBackoffMs,
      });
      this.watches.push(watch);
    }
    try {
      // Lists first, all of them, so the first view in the registry is complete.
      await Promise.all(this.watches.map((w) => w.start()));
    } catch (cause) {
      for (const w of this.watches) w.stop();
      throw new KubernetesError(`cannot list from the Kubernetes API: ${String(cause)}`, { cause });
    }
    this.started = true;
    this.publishAll();
  }

  async stop(): Promise<void> {
    clearTimeout(this.publishTimer);
    for (const w of this.watches) w.stop();
  }

  /**
   * Watch events come in bursts (a rollout touches pods, slices and services together); they are
   * folded into one registry update, and so into one change event, per burst.
   */
  private schedulePublish(): void {
    if (this.publishTimer) return;
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined;
      this.publishAll();
    }, this.options.coalesceMs ?? 25);
  }

  /** The whole Kubernetes view as one snapshot (the registry diffs it against the last one). */
  snapshot(): Snapshot {
    const snapshot = emptySnapshot();
    for (const ns of this.namespaces.values()) {
      const accounts = [...(this.accounts.get(ns.name) ?? [])].sort();
      const entity: Namespace = { name: ns.name, labels: ns.labels, serviceAccounts: accounts };
      snapshot.namespaces.set(ns.name, entity);
    }
    for (const [key, svc] of this.services) {
      const entity: Service = { ...svc };
      snapshot.services.set(key, entity);
    }
    for (const [key, pod] of this.pods) {
      const workload = this.workloadOf(key, pod);
      if (workload) snapshot.workloads.set(key, workload);
    }
    return snapshot;
  }

  private publishAll(): void {
    this.options.sink.replace(this.snapshot());
  }

  private workloadOf(key: string, pod: PodInfo): Workload | undefined {
    if (!pod.address) return undefined;
    const slices = [...(this.podSlices.get(key) ?? [])]
      .map((k) => this.slices.get(k))
      .filter((s): s is SliceInfo => s !== undefined);
    // At most 256, the registry's limit for every source (a pod behind more services is odd).
    const services = [...new Set(slices.map((s) => s.service).filter((s): s is string => !!s))]
      .sort()
      .slice(0, 256);
    const port = pod.ports[0] ?? slices.flatMap((s) => s.ports)[0];
    return {
      namespace: pod.namespace,
      name: pod.name,
      address: pod.address,
      port: port?.port ?? 0,
      protocol: port?.protocol ?? 'tcp',
      labels: pod.labels,
      serviceAccount: pod.serviceAccount,
      spiffeId: spiffeIdOf(this.options.trustDomain, pod.namespace, pod.serviceAccount),
      services,
    };
  }

  private skip(kind: string, result: Problem, object: unknown): void {
    this.options.metrics.rejected.inc({ source: this.name, reason: `${kind}_missing_fields` });
    const uid = (object as { metadata?: { uid?: unknown } } | null)?.metadata?.uid;
    this.options.log.warn({ kind, problem: result.problem, uid }, 'kubernetes object skipped');
  }

  private applyNamespace(o: unknown, deleted: boolean): void {
    const meta = metaOf(o, false);
    if (isProblem(meta)) return this.skip('namespace', meta, o);
    if (deleted) this.namespaces.delete(meta.name);
    else this.namespaces.set(meta.name, { name: meta.name, labels: meta.labels });
  }

  private applyAccount(o: unknown, deleted: boolean): void {
    const meta = metaOf(o, true);
    if (isProblem(meta)) return this.skip('serviceaccount', meta, o);
    const ns = meta.namespace ?? '';
    let set = this.accounts.get(ns);
    if (!set) this.accounts.set(ns, (set = new Set()));
    if (deleted) set.delete(meta.name);
    else set.add(meta.name);
  }

  private applyService(o: unknown, deleted: boolean): void {
    const svc = serviceOf(o);
    if (isProblem(svc)) return this.skip('service', svc, o);
    const key = qualifiedKey(svc.namespace, svc.name);
    if (deleted) this.services.delete(key);
    else this.services.set(key, svc);
  }

  private applyPod(o: unknown, deleted: boolean): void {
    const pod = podOf(o);
    if (isProblem(pod)) return this.skip('pod', pod, o);
    const key = qualifiedKey(pod.namespace, pod.name);
    if (deleted) this.pods.delete(key);
    else this.pods.set(key, pod);
  }

  private applySlice(o: unknown, deleted: boolean): void {
    const slice = endpointSliceOf(o);
    if (isProblem(slice)) return this.skip('endpointslice', slice, o);
    const key = qualifiedKey(slice.namespace, slice.name);
    const previous = this.slices.get(key);
    for (const pod of previous?.pods ?? [])
      this.podSlices.get(qualifiedKey(slice.namespace, pod))?.delete(key);
    if (deleted) {
      this.slices.delete(key);
      return;
    }
    this.slices.set(key, slice);
    for (const pod of slice.pods) {
      const podKey = qualifiedKey(slice.namespace, pod);
      let set = this.podSlices.get(podKey);
      if (!set) this.podSlices.set(podKey, (set = new Set()));
      set.add(key);
    }
  }
}
