import type { ServerDuplexStream, ServiceDefinition } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type {
  AdsEvent,
  AdsNode,
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
  EnvoyOptions,
  Inexpressible,
  MeshWorkload,
  Resources,
  ResourceSource,
} from '@warden/envoy';
import {
  AdsSession,
  DeltaAdsSession,
  envoyResources,
  loadAds,
  meshResources,
  parseEnvoyNodeId,
  toRbacFilters,
} from '@warden/envoy';
import type { PolicyRevision } from '@warden/policy-engine';
import type { Logger } from '@warden/runtime';
import type { ContainmentRule } from './containment.ts';
import type { ContainedWorkload } from './containment-rbac.ts';
import { containmentPolicies } from './containment-rbac.ts';

export type XdsWorkload = MeshWorkload & ContainedWorkload;

export type XdsInputs = {
  workloads: readonly XdsWorkload[];
  revision: PolicyRevision;
  containment: readonly ContainmentRule[];
};

/** What Envoy sidecars need beyond the mesh: where ext_authz is, and its limits. */
export type EnvoySettings = Omit<EnvoyOptions, 'trustDomain'>;

/**
 * Every resource for the mesh as it stands (the registry's workloads, the policy, containment),
 * chosen per client: proxyless gRPC workloads share one set translated with `inexpressible:
 * 'deny'` (nothing runs after RBAC), and each Envoy sidecar (user agent `envoy`) gets its own
 * workload's inbound side with `inexpressible: 'defer'`, since its ext_authz filter runs the
 * whole decision order after RBAC. An Envoy whose node id names no registered workload gets no
 * inbound filter chain: it accepts nothing.
 */
export function buildResources(
  inputs: XdsInputs,
  trustDomain: string,
  now: Date,
  envoy: EnvoySettings,
  log: Logger,
): ResourceSource {
  const { revision } = inputs;
  const rbacFor = (inexpressible: Inexpressible) => (w: MeshWorkload) => {
    const workload = w as XdsWorkload;
    return toRbacFilters(
      [
        ...containmentPolicies(inputs.containment, workload, now),
        ...revision.policiesFor(workload.namespace, workload.labels),
      ],
      { meshDefault: revision.meshDefault, namespace: workload.namespace, inexpressible },
    );
  };
  const proxyless = meshResources(inputs.workloads, rbacFor('deny'), trustDomain);
  return (node: AdsNode): Resources => {
    if (node.userAgent !== 'envoy') return proxyless;
    const named = parseEnvoyNodeId(node.id);
    const self = named
      ? inputs.workloads.filter((w) => w.address === named.address && w.namespace === named.namespace)
      : [];
    if (self.length === 0)
      log.warn({ node: node.id }, 'Envoy node names no registered workload; it gets no inbound listener');
    return envoyResources(self, inputs.workloads, rbacFor('defer'), { ...envoy, trustDomain });
  };
}

/** Either flavour of ADS stream, as the hub drives it. */
type Session<Req, Res> = {
  readonly node: AdsNode | undefined;
  request(req: Req): { responses: Res[]; events: AdsEvent[] };
  update(source: ResourceSource, version: string): Res[];
  state(): ReadonlyMap<
    string,
    {
      sent?: { version: string };
      lastVersion?: string;
      acked?: string;
      nacked?: { version: string; message: string };
    }
  >;
};
type AnySession = Session<never, unknown>;
type Writable = { write(message: unknown): boolean };

export type DataPlane = {
  node: string;
  cluster: string;
  /** `sotw` (state of the world) or `delta` (incremental). */
  protocol: 'sotw' | 'delta';
  types: {
    typeUrl: string;
    version?: string;
    acked?: string;
    nacked?: { version: string; message: string };
  }[];
};

export type NackEvent = { node: string; typeUrl: string; version: string; message: string };

/**
 * The ADS server's state: the current snapshot and every connected stream, state of the world
 * (`StreamAggregatedResources`: gRPC, Envoy by default) or incremental
 * (`DeltaAggregatedResources`: Envoy with `api_type: DELTA_GRPC`). `publish` installs a snapshot
 * and pushes to the streams whose subscribed content changed.
 */
export class AdsHub {
  readonly #sessions = new Map<Writable, { session: AnySession; protocol: DataPlane['protocol'] }>();
  #resources: ResourceSource = new Map();
  #version = '0';
  readonly #log: Logger;
  readonly #onNack: (nack: NackEvent) => void;
  readonly #onPush: (count: number) => void;
  readonly #onStreams: (count: number) => void;

  constructor(options: {
    log: Logger;
    onNack: (nack: NackEvent) => void;
    onPush: (count: number) => void;
    onStreams: (count: number) => void;
  }) {
    this.#log = options.log;
    this.#onNack = options.onNack;
    this.#onPush = options.onPush;
    this.#onStreams = options.onStreams;
  }

  get version(): string {
    return this.#version;
  }

  get streams(): number {
    return this.#sessions.size;
  }

  publish(resources: ResourceSource, version: string): void {
    this.#resources = resources;
    this.#version = version;
    let pushed = 0;
    for (const [stream, { session }] of this.#sessions) {
      for (const response of session.update(resources, version)) {
        stream.write(response);
        pushed++;
      }
    }
    if (pushed > 0) this.#onPush(pushed);
  }

  dataPlanes(): DataPlane[] {
    return [...this.#sessions.values()].map(({ session, protocol }) => ({
      node: session.node?.id ?? '',
      cluster: session.node?.cluster ?? '',
      protocol,
      types: [...session.state()].map(([typeUrl, t]) => {
        const version = t.sent?.version ?? t.lastVersion;
        return {
          typeUrl,
          ...(version !== undefined ? { version } : {}),
          ...(t.acked !== undefined ? { acked: t.acked } : {}),
          ...(t.nacked ? { nacked: t.nacked } : {}),
        };
      }),
    }));
  }

  /** The gRPC service `envoy.service.discovery.v3.AggregatedDiscoveryService`. */
  service(): ServiceDefinition {
    return loadAds().service;
  }

  handlers() {
    return {
      StreamAggregatedResources: (stream: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) =>
        this.#stream(stream, new AdsSession(this.#resources, this.#version), 'sotw'),
      DeltaAggregatedResources: (stream: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) =>
        this.#stream(stream, new DeltaAdsSession(this.#resources, this.#version), 'delta'),
    };
  }

  #stream<Req, Res>(
    stream: ServerDuplexStream<Req, Res>,
    session: Session<Req, Res>,
    protocol: DataPlane['protocol'],
  ): void {
    this.#sessions.set(stream as Writable, { session: session as unknown as AnySession, protocol });
    this.#onStreams(this.#sessions.size);
    const close = (): void => {
      this.#sessions.delete(stream as Writable);
      this.#onStreams(this.#sessions.size);
    };
    stream.on('data', (request: Req) => {
      const { responses, events } = session.request(request);
      for (const event of events) {
        const node = session.node?.id ?? '';
        if (event.kind === 'unknown-type') {
          // Nothing is served for it; say so and end the stream rather than leave the client waiting.
          this.#log.warn({ node, typeUrl: event.typeUrl }, 'ADS request for a type Warden does not serve');
          close();
          stream.emit('error', {
            code: GrpcStatus.INVALID_ARGUMENT,
            details: `unknown resource type ${JSON.stringify(event.typeUrl)}: Warden serves listeners, routes, clusters and endpoints`,
          });
          return;
        }
        if (event.kind === 'nack') {
          this.#log.error(
            { node, typeUrl: event.typeUrl, version: event.version, error: event.message },
            'configuration rejected by a data plane',
          );
          this.#onNack({ node, ...event });
        }
      }
      for (const response of responses) stream.write(response);
    });
    stream.on('end', () => {
      close();
      stream.end();
    });
    stream.on('error', close);
    stream.on('cancelled', close);
  }
}
