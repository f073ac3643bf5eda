/**
 * One ADS stream's protocol state (state of the world, `envoy.service.discovery.v3`), apart from
 * the transport: requests in, responses out, per resource type.
 *
 * - Subscriptions: the names a client asks for. An empty list on a type's first request is the
 *   legacy wildcard (Envoy's LDS/CDS); `*` is the explicit one; an empty list later unsubscribes
 *   (what grpc-js-xds sends when it drops a resource).
 * - ACK and NACK per type: a request carrying the nonce of the last response acknowledges it, or,
 *   with `error_detail`, rejects it. A request with an older nonce is stale and ignored.
 * - A response goes out only when what the client subscribes to differs from what it was last
 *   sent (a digest over names and bytes). A rejected configuration is therefore never re-sent in a
 *   loop: the same content has the same digest, and only a change produces a new response.
 * - Listeners and clusters are sent whole (a name missing from the response is deleted); routes
 *   and endpoints only when at least one requested resource exists.
 */
import { createHash } from 'node:crypto';
import type { Any } from './any.ts';
import type { DiscoveryRequest, DiscoveryResponse } from './sds.ts';
import { ResourceType, TypeUrl } from './xds-resources.ts';
import type { Resources } from './xds-resources.ts';

const typeOfUrl = new Map<string, ResourceType>([
  [TypeUrl.listener, ResourceType.listener],
  [TypeUrl.routeConfiguration, ResourceType.routeConfiguration],
  [TypeUrl.cluster, ResourceType.cluster],
  [TypeUrl.clusterLoadAssignment, ResourceType.clusterLoadAssignment],
]);

const wholeState = new Set<ResourceType>([ResourceType.listener, ResourceType.cluster]);

/** The client as its first request names it; `userAgent` tells Envoy (`envoy`) from gRPC. */
export type AdsNode = { id: string; cluster: string; userAgent: string };

/**
 * What a snapshot serves: the same resources to every client, or resources chosen per client
 * (an Envoy sidecar gets its own workload's inbound listener). Asked once per snapshot and
 * stream, after the client has named itself.
 */
export type ResourceSource = Resources | ((node: AdsNode) => Resources);

/** What a stream knows about one resource type. */
export type TypeState = {
  names: ReadonlySet<string> | 'wildcard';
  /** The last response sent: its version, nonce and content digest. */
  sent?: { version: string; nonce: string; digest: string; resources: number };
  acked?: string;
  /** The last rejection, with the client's own words. */
  nacked?: { version: string; message: string };
};

export type AdsEvent =
  | { kind: 'ack'; typeUrl: string; version: string }
  | { kind: 'nack'; typeUrl: string; version: string; message: string }
  | { kind: 'unknown-type'; typeUrl: string };

/**
 * What one stream is served from: the client as its first request names it, and the snapshot
 * chosen for that client (asked once per snapshot, after the client has named itself). Both ADS
 * flavours hold one.
 */
export class ClientSnapshot {
  #node: AdsNode | undefined;
  #source: ResourceSource;
  #resources: Resources | undefined;
  #version: string;

  constructor(source: ResourceSource, version: string) {
    this.#source = source;
    this.#version = version;
  }

  get node(): AdsNode | undefined {
    return this.#node;
  }

  get version(): string {
    return this.#version;
  }

  /** Remembers the node the first request that names one gives. */
  identify(node: { id?: string; cluster?: string; user_agent_name?: string } | null | undefined): void {
    if (node?.id && !this.#node)
      this.#node = { id: node.id, cluster: node.cluster ?? '', userAgent: node.user_agent_name ?? '' };
  }

  replace(source: ResourceSource, version: string): void {
    this.#source = source;
    this.#resources = undefined;
    this.#version = version;
  }

  resources(): Resources {
    if (typeof this.#source !== 'function') return this.#source;
    this.#resources ??= this.#source(this.#node ?? { id: '', cluster: '', userAgent: '' });
    return this.#resources;
  }
}

export class AdsSession {
  readonly #types = new Map<ResourceType, TypeState>();
  #nonce = 0;
  readonly #client: ClientSnapshot;

  constructor(source: ResourceSource, version: string) {
    this.#client = new ClientSnapshot(source, version);
  }

  get node(): AdsNode | undefined {
    return this.#client.node;
  }

  /** Per type URL, what this client subscribed to, was sent, acknowledged and rejected. */
  state(): ReadonlyMap<string, TypeState> {
    return new Map([...this.#types].map(([type, state]) => [`type.googleapis.com/${type}`, state]));
  }

  /** Handles one request; returns what to send (at most one response) and what happened. */
  request(req: DiscoveryRequest): { responses: DiscoveryResponse[]; events: AdsEvent[] } {
    const events: AdsEvent[] = [];
    this.#client.identify(req.node);
    const typeUrl = req.type_url ?? '';
    const type = typeOfUrl.get(typeUrl);
    if (!type) return { responses: [], events: [{ kind: 'unknown-type', typeUrl }] };
    const prior = this.#types.get(type);
    const nonce = req.response_nonce ?? '';
    if (nonce !== '' && nonce !== prior?.sent?.nonce) return { responses: [], events };
    const state: TypeState = prior ?? { names: 'wildcard' };
    if (prior?.sent && nonce === prior.sent.nonce) {
      if (req.error_detail) {
        const message = req.error_detail.message ?? '';
        state.nacked = { version: prior.sent.version, message };
        events.push({ kind: 'nack', typeUrl, version: prior.sent.version, message });
      } else {
        state.acked = req.version_info ?? '';
        events.push({ kind: 'ack', typeUrl, version: state.acked });
      }
    }
    const names = req.resource_names ?? [];
    state.names =
      names.includes('*') || (names.length === 0 && prior === undefined) ? 'wildcard' : new Set(names);
    this.#types.set(type, state);
    const response = this.#respond(type, state);
    return { responses: response ? [response] : [], events };
  }

  /** A new snapshot: responses for every subscribed type whose content changed. */
  update(source: ResourceSource, version: string): DiscoveryResponse[] {
    this.#client.replace(source, version);
    const out: DiscoveryResponse[] = [];
    for (const [type, state] of this.#types) {
      const response = this.#respond(type, state);
      if (response) out.push(response);
    }
    return out;
  }

  #respond(type: ResourceType, state: TypeState): DiscoveryResponse | undefined {
    const all = this.#client.resources().get(type) ?? new Map<string, Any>();
    const selected: [string, Any][] =
      state.names === 'wildcard'
        ? [...all]
        : [...state.names].flatMap((n): [string, Any][] => {
            const r = all.get(n);
            return r ? [[n, r]] : [];
          });
    selected.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (selected.length === 0 && !wholeState.has(type) && state.sent === undefined) return undefined;
    if (state.names !== 'wildcard' && state.names.size === 0 && state.sent === undefined) return undefined;
    const hash = createHash('sha256');
    for (const [name, any] of selected) hash.update(name).update('\0').update(any.value).update('\0');
    const digest = hash.digest('hex');
    if (state.sent?.digest === digest) return undefined;
    const nonce = String(++this.#nonce);
    state.sent = { version: this.#client.version, nonce, digest, resources: selected.length };
    return {
      version_info: this.#client.version,
      resources: selected.map(([, any]) => any),
      type_url: `type.googleapis.com/${type}`,
      nonce,
    };
  }
}
