import * as catalog from './catalog.ts';
import type { EventDef, RequestDef } from './define.ts';
import { BucketName, filterOf, ObjectStoreName, StreamName } from './define.ts';
import { kvStreamName, objectStreamName } from './streams.ts';

/**
 * Who may do what on the bus: one row per principal (each service, people, the operator).
 * nats-server's per-user permissions are generated from this table, so a service that
 * publishes outside its row is refused by the server itself (ARCHITECTURE §7).
 */
export const Principal = {
  ca: 'ca',
  agent: 'agent',
  policy: 'policy',
  topology: 'topology',
  telemetryIngest: 'telemetry-ingest',
  detector: 'detector',
  enforcer: 'enforcer',
  console: 'console',
  /** People and their tools: submit policy, read alerts, register workloads, contain by hand. */
  user: 'user',
  /** A workload registering itself and sending heartbeats. */
  workload: 'workload',
} as const;
export type Principal = (typeof Principal)[keyof typeof Principal];

export const servicePrincipals = [
  Principal.ca,
  Principal.agent,
  Principal.policy,
  Principal.topology,
  Principal.telemetryIngest,
  Principal.detector,
  Principal.enforcer,
  Principal.console,
] as const;
export type ServiceName = (typeof servicePrincipals)[number];

export type Grant = {
  /** Events this principal publishes. Publishing a stored event also lets it provision that stream. */
  publishes: readonly EventDef[];
  /** Events it consumes. */
  subscribes: readonly EventDef[];
  /** Request subjects it answers. */
  serves: readonly RequestDef[];
  /** Request subjects it calls. */
  requests: readonly RequestDef[];
  writesBuckets: readonly BucketName[];
  readsBuckets: readonly BucketName[];
  writesObjects: readonly ObjectStoreName[];
  readsObjects: readonly ObjectStoreName[];
  /** Core-NATS subscriptions wider than one event type, where ARCHITECTURE §2 promises them to users. */
  subscribeWildcards?: readonly string[];
  /**
   * Named durable consumers this principal owns, by the event they consume. No other principal
   * may create, read from, ack on, or delete them, so nobody can drain or switch off a service's
   * feed. (Durables named at run time, such as one per agent host, are not listed and so not
   * protected this way.)
   */
  durables?: Readonly<Record<string, EventDef>>;
};

const none = {
  publishes: [],
  subscribes: [],
  serves: [],
  requests: [],
  writesBuckets: [],
  readsBuckets: [],
  writesObjects: [],
  readsObjects: [],
} satisfies Grant;

const e = catalog;
const enforceAll = [e.enforceDeny, e.enforceQuarantine, e.enforceRelease, e.enforceRevoke];

export const grants: Readonly<Record<Principal, Grant>> = {
  ca: {
    ...none,
    publishes: [e.identityIssued, e.identityRevoked, e.identityBundle, e.audit],
    subscribes: [e.identityIssued, e.identityRevoked, e.enforceRevoke],
    serves: [e.caSign, e.caBundle, e.caToken],
    writesBuckets: [BucketName.joinTokens],
    readsBuckets: [BucketName.joinTokens],
    durables: { 'ca-revoke': e.enforceRevoke },
  },
  agent: {
    ...none,
    publishes: [e.audit, e.topologyHeartbeat],
    subscribes: [e.identityRevoked, e.identityBundle, e.identityEntry],
    requests: [e.caSign, e.caBundle],
  },
  policy: {
    ...none,
    publishes: [e.policyCommitted, e.policyRejected, e.audit],
    subscribes: [e.policySubmit, e.policyApplied, e.topologyChanged],
    serves: [e.policyStatus],
    requests: [e.topologyQuery],
    writesBuckets: [BucketName.policy],
    readsBuckets: [BucketName.policy],
    writesObjects: [ObjectStoreName.bundles],
    readsObjects: [ObjectStoreName.bundles],
    durables: { 'policy-submissions': e.policySubmit, 'policy-rollout': e.policyApplied },
  },
  topology: {
    ...none,
    publishes: [e.topologyChanged, e.audit],
    // `changed` too: the call graph is rebuilt from its own snapshots when Redis lost it.
    subscribes: [
      e.topologyChanged,
      e.topologyRegister,
      e.topologyDeregister,
      e.topologyHeartbeat,
      e.telemetryAccess,
    ],
    serves: [e.topologyQuery],
    durables: {
      'topology-graph': e.telemetryAccess,
      'topology-register': e.topologyRegister,
      'topology-deregister': e.topologyDeregister,
    },
  },
  'telemetry-ingest': {
    ...none,
    publishes: [e.telemetryAccess, e.telemetryFeatures, e.audit],
  },
  detector: {
    ...none,
    publishes: [e.alert, e.audit],
    subscribes: [e.telemetryFeatures, e.telemetryAccess],
  },
  enforcer: {
    ...none,
    publishes: [e.policyApplied, e.telemetryAccess, ...enforceAll, e.audit],
    subscribes: [
      e.alert,
      ...enforceAll,
      e.policyCommitted,
      e.identityRevoked,
      e.identityBundle,
      e.topologyChanged,
    ],
    requests: [e.caBundle, e.topologyQuery],
    writesBuckets: [BucketName.containment],
    readsBuckets: [BucketName.containment, BucketName.policy],
    readsObjects: [ObjectStoreName.bundles],
  },
  console: {
    ...none,
    publishes: [e.policySubmit, ...enforceAll, e.audit],
    subscribes: [
      e.alert,
      e.audit,
      e.policyCommitted,
      e.policyRejected,
      e.policyApplied,
      e.identityIssued,
      e.identityRevoked,
      e.topologyChanged,
    ],
    requests: [e.caBundle, e.policyStatus, e.topologyQuery],
    readsBuckets: [BucketName.containment],
  },
  user: {
    ...none,
    publishes: [e.policySubmit, ...enforceAll, e.identityEntry, e.topologyRegister, e.topologyDeregister],
    subscribes: [e.alert, e.audit, e.policyCommitted, e.policyRejected],
    requests: [e.policyStatus, e.topologyQuery, e.caBundle, e.caToken],
    // `warden policy test` evaluates a stored revision locally, as a decision point would.
    readsBuckets: [BucketName.policy],
    readsObjects: [ObjectStoreName.bundles],
    // "Users integrate by subscribing to warden.alert.>": only alerts live under that prefix.
    subscribeWildcards: ['warden.alert.>'],
  },
  workload: {
    ...none,
    publishes: [e.topologyRegister, e.topologyDeregister, e.topologyHeartbeat],
  },
};

/**
 * Each stream has one owner, the only principal allowed to create or reconfigure it: a stream
 * many services write (the audit log above all) must not be reconfigurable by every writer.
 * Buckets and object stores have one writer each, which owns them.
 */
export const streamOwners: Readonly<Record<StreamName, ServiceName>> = {
  WARDEN_POLICY: 'policy',
  WARDEN_TELEMETRY: 'telemetry-ingest',
  WARDEN_ALERTS: 'detector',
  WARDEN_ENFORCEMENT: 'enforcer',
  WARDEN_AUDIT: 'enforcer',
  WARDEN_IDENTITY: 'ca',
  WARDEN_TOPOLOGY: 'topology',
};

/** The inbox prefix of a principal: replies to it can be read by it alone. */
export const inboxPrefix = (principal: Principal): string => `_INBOX_${principal.replace(/-/g, '_')}`;

export type NatsPermissions = {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[] };
};

/** The nats-server permissions for one principal, derived from its grant. */
export function natsPermissions(principal: Principal): NatsPermissions {
  const grant = grants[principal];
  const publish = new Set<string>(['$JS.API.INFO']);
  const subscribe = new Set<string>([`${inboxPrefix(principal)}.>`]);

  const readStream = (stream: string): void => {
    publish.add(`$JS.API.STREAM.INFO.${stream}`);
    publish.add(`$JS.API.CONSUMER.*.${stream}`);
    publish.add(`$JS.API.CONSUMER.*.${stream}.>`);
    publish.add(`$JS.API.CONSUMER.MSG.NEXT.${stream}.>`);
    publish.add(`$JS.API.DIRECT.GET.${stream}`);
    publish.add(`$JS.API.DIRECT.GET.${stream}.>`);
    publish.add(`$JS.API.STREAM.MSG.GET.${stream}`);
    publish.add(`$JS.ACK.${stream}.>`);
  };
  const ownStream = (stream: string): void => {
    publish.add(`$JS.API.STREAM.INFO.${stream}`);
    publish.add(`$JS.API.STREAM.CREATE.${stream}`);
    publish.add(`$JS.API.STREAM.UPDATE.${stream}`);
  };

  for (const def of grant.publishes) {
    publish.add(filterOf(def));
    if (!def.stream) continue;
    if (streamOwners[def.stream] === principal) ownStream(def.stream);
    else publish.add(`$JS.API.STREAM.INFO.${def.stream}`);
  }
  // A stored event can be read through a JetStream consumer or live, with a plain subscription.
  for (const def of grant.subscribes) {
    if (def.stream) readStream(def.stream);
    subscribe.add(filterOf(def));
  }
  for (const pattern of grant.subscribeWildcards ?? []) subscribe.add(pattern);
  for (const def of grant.serves) subscribe.add(def.subject);
  for (const def of grant.requests) publish.add(def.subject);
  for (const bucket of grant.writesBuckets) {
    ownStream(kvStreamName(bucket));
    publish.add(`$KV.${bucket}.>`);
  }
  for (const bucket of grant.readsBuckets) readStream(kvStreamName(bucket));
  for (const store of grant.writesObjects) {
    ownStream(objectStreamName(store));
    publish.add(`$O.${store}.>`);
    // Replacing an object purges its old chunks.
    publish.add(`$JS.API.STREAM.PURGE.${objectStreamName(store)}`);
  }
  for (const store of grant.readsObjects) readStream(objectStreamName(store));

  // Other principals' durables on the streams this one may read: hands off.
  const deny = new Set<string>();
  const readable = new Set<string>();
  for (const def of grant.subscribes) if (def.stream) readable.add(def.stream);
  for (const [other, otherGrant] of Object.entries(grants)) {
    if (other === principal) continue;
    for (const [durable, def] of Object.entries(otherGrant.durables ?? {})) {
      if (!def.stream || !readable.has(def.stream)) continue;
      deny.add(`$JS.API.CONSUMER.*.${def.stream}.${durable}`);
      deny.add(`$JS.API.CONSUMER.*.${def.stream}.${durable}.>`);
      deny.add(`$JS.API.CONSUMER.*.*.${def.stream}.${durable}`);
      deny.add(`$JS.ACK.${def.stream}.${durable}.>`);
    }
  }
  return {
    publish: { allow: [...publish].sort(), ...(deny.size ? { deny: [...deny].sort() } : {}) },
    subscribe: { allow: [...subscribe].sort() },
  };
}

/** Streams, buckets and object stores a service creates at boot: the ones it owns. */
export function ownedResources(principal: Principal): {
  streams: StreamName[];
  buckets: BucketName[];
  objectStores: ObjectStoreName[];
} {
  const grant = grants[principal];
  const streams = (Object.keys(streamOwners) as StreamName[]).filter((s) => streamOwners[s] === principal);
  return { streams, buckets: [...grant.writesBuckets], objectStores: [...grant.writesObjects] };
}

export const allStreams: readonly StreamName[] = Object.values(StreamName);
