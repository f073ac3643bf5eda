/**
 * One incremental ADS stream's protocol state (`DeltaAggregatedResources`), apart from the
 * transport. Where state of the world sends every subscribed resource on each change, delta sends
 * only the resources whose version changed and the names that went away, so a mesh of thousands of
 * workloads does not resend thousands of listeners for one policy change.
 *
 * - Subscriptions per type: `resource_names_subscribe` adds, `resource_names_unsubscribe` removes;
 *   a first request for a type naming nothing is the legacy wildcard, `*` the explicit one.
 * - `initial_resource_versions` (a reconnecting client) says what the client already has: only
 *   what differs is sent, and a name that no longer exists is reported removed.
 * - A resource's version is a digest of its bytes, so an unchanged resource is never re-sent, a
 *   rejected one neither until it changes (no NACK loop).
 * - A request carrying the last response's nonce ACKs it, or NACKs it with `error_detail`; an older
 *   nonce is stale for ACK purposes, its subscription changes still count.
 */
import { createHash } from 'node:crypto';
import type { Any } from './any.ts';
import type { AdsEvent, AdsNode, ResourceSource } from './ads.ts';
import { ClientSnapshot } from './ads.ts';
import { ResourceType, TypeUrl } from './xds-resources.ts';

export type DeltaDiscoveryRequest = {
  node?: { id?: string; cluster?: string; user_agent_name?: string } | null;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
};

export type DeltaDiscoveryResponse = {
  system_version_info: string;
  resources: { name: string; version: string; resource: Any }[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
};

const typeOfUrl = new Map<string, ResourceType>([
  [TypeUrl.listener, ResourceType.listener],
  [TypeUrl.routeConfiguration, ResourceType.routeConfiguration],
  [TypeUrl.cluster, ResourceType.cluster],
  [TypeUrl.clusterLoadAssignment, ResourceType.clusterLoadAssignment],
]);

/** What a delta stream knows about one resource type. */
export type DeltaTypeState = {
  wildcard: boolean;
  names: Set<string>;
  /** Name → version the client holds (or was last sent). */
  known: Map<string, string>;
  lastNonce?: string;
  lastVersion?: string;
  acked?: string;
  nacked?: { version: string; message: string };
};

const versionOf = (any: Any): string =>
  createHash('sha256').update(any.value).digest('base64url').slice(0, 22);

export class DeltaAdsSession {
  readonly #types = new Map<ResourceType, DeltaTypeState>();
  #nonce = 0;
  readonly #client: ClientSnapshot;

  constructor(source: ResourceSource, version: string) {
    this.#client = new ClientSnapshot(source, version);
  }

  get node(): AdsNode | undefined {
    return this.#client.node;
  }

  /** Per type URL, what this client subscribed to, was sent, acknowledged and rejected. */
  state(): ReadonlyMap<string, DeltaTypeState> {
    return new Map([...this.#types].map(([type, state]) => [`type.googleapis.com/${type}`, state]));
  }

  request(req: DeltaDiscoveryRequest): { responses: DeltaDiscoveryResponse[]; events: AdsEvent[] } {
    const events: AdsEvent[] = [];
    this.#client.identify(req.node);
    const typeUrl = req.type_url ?? '';
    const type = typeOfUrl.get(typeUrl);
    if (!type) return { responses: [], events: [{ kind: 'unknown-type', typeUrl }] };
    const subscribe = req.resource_names_subscribe ?? [];
    let state = this.#types.get(type);
    if (!state) {
      state = {
        wildcard: subscribe.length === 0 || subscribe.includes('*'),
        names: new Set(),
        known: new Map(),
      };
      for (const [name, version] of Object.entries(req.initial_resource_versions ?? {}))
        state.known.set(name, version);
      this.#types.set(type, state);
    }
    const nonce = req.response_nonce ?? '';
    if (nonce !== '' && nonce === state.lastNonce) {
      const version = state.lastVersion ?? '';
      if (req.error_detail) {
        const message = req.error_detail.message ?? '';
        state.nacked = { version, message };
        events.push({ kind: 'nack', typeUrl, version, message });
      } else {
        state.acked = version;
        events.push({ kind: 'ack', typeUrl, version });
      }
    }
    for (const name of subscribe) {
      if (name === '*') state.wildcard = true;
      else state.names.add(name);
    }
    for (const name of req.resource_names_unsubscribe ?? []) {
      if (name === '*') state.wildcard = false;
      else state.names.delete(name);
      // The client forgets it: no removal is owed, and a later subscription sends it again.
      if (!state.wildcard) state.known.delete(name);
    }
    const response = this.#respond(type, state);
    return { responses: response ? [response] : [], events };
  }

  /** A new snapshot: for each subscribed type, the resources that changed and those that went. */
  update(source: ResourceSource, version: string): DeltaDiscoveryResponse[] {
    this.#client.replace(source, version);
    const out: DeltaDiscoveryResponse[] = [];
    for (const [type, state] of this.#types) {
      const response = this.#respond(type, state);
      if (response) out.push(response);
    }
    return out;
  }

  #respond(type: ResourceType, state: DeltaTypeState): DeltaDiscoveryResponse | undefined {
    const all = this.#client.resources().get(type) ?? new Map<string, Any>();
    const wanted = new Map<string, Any>();
    if (state.wildcard) for (const [name, any] of all) wanted.set(name, any);
    for (const name of state.names) {
      const any = all.get(name);
      if (any) wanted.set(name, any);
    }
    const changed: DeltaDiscoveryResponse['resources'] = [];
    for (const [name, any] of [...wanted].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const version = versionOf(any);
      if (state.known.get(name) !== version) changed.push({ name, version, resource: any });
    }
    const removed = [...state.known.keys()].filter((name) => !wanted.has(name)).sort();
    if (changed.length === 0 && removed.length === 0) return undefined;
    for (const r of changed) state.known.set(r.name, r.version);
    for (const name of removed) state.known.delete(name);
    const nonce = String(++this.#nonce);
    state.lastNonce = nonce;
    state.lastVersion = this.#client.version;
    return {
      system_version_info: this.#client.version,
      resources: changed,
      type_url: `type.googleapis.com/${type}`,
      removed_resources: removed,
      nonce,
    };
  }
}
