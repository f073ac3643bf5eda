import * as catalog from './catalog.ts';
import type { EventDef, RequestDef } from './define.ts';
import { BucketName, filterOf, ObjectStoreName, StreamName } from './define.ts';
import { kvStreamName, MIRROR_FEED, objectStreamName, PEOPLE_JS_API } from './streams.ts';

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
/** Every service writes its own audit chain and signs its checkpoints. */
const auditWrite = [e.audit, e.auditCheckpoint];
const auditRead = [e.audit, e.auditCheckpoint];

export const grants: Readonly<Record<Principal, Grant>> = {
  ca: {
    ...none,
    publishes: [e.identityIssued, e.identityRevoked, e.identityBundle, ...auditWrite],
    subscribes: [e.identityIssued, e.identityRevoked, e.enforceRevoke],
    serves: [e.caSign, e.caBundle, e.caToken],
    writesBuckets: [BucketName.joinTokens, BucketName.caLease, BucketName.caCrl],
    readsBuckets: [BucketName.joinTokens, BucketName.caLease, BucketName.caCrl],
    durables: { 'ca-revoke': e.enforceRevoke },
  },
  agent: {
    ...none,
    publishes: [...auditWrite, e.topologyHeartbeat],
    subscribes: [e.identityRevoked, e.identityBundle, e.identityEntry],
    requests: [e.caSign, e.caBundle],
  },
  policy: {
    ...none,
    publishes: [e.policyCommitted, e.policyRejected, ...auditWrite],
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
    publishes: [e.topologyChanged, ...auditWrite],
    // `changed` too: the call graph is rebuilt from its own snapshots when Redis lost it.
    // Decisions too: a denied call is an edge of the graph with its deny count.
    subscribes: [
      e.topologyChanged,
      e.topologyRegister,
      e.topologyDeregister,
      e.topologyHeartbeat,
      e.telemetryAccess,
      e.telemetryDecision,
    ],
    serves: [e.topologyQuery],
    durables: {
      'topology-graph': e.telemetryAccess,
      'topology-decisions': e.telemetryDecision,
      'topology-register': e.topologyRegister,
      'topology-deregister': e.topologyDeregister,
    },
  },
  'telemetry-ingest': {
    ...none,
    publishes: [e.telemetryAccess, e.telemetryFeatures, ...auditWrite],
    // The enforcer's decision records, folded into deny counts (features and series).
    subscribes: [e.telemetryDecision],
    durables: { 'telemetry-ingest-decisions': e.telemetryDecision },
  },
  detector: {
    ...none,
    publishes: [e.alert, ...auditWrite],
    // Its own alerts too: it reads them back at start to know which are already announced.
    subscribes: [e.telemetryFeatures, e.telemetryAccess, e.alert],
    // Its behaviour models: `warden detect train` stores new versions as the operator, the
    // detector loads the newest approved one and follows the store.
    writesObjects: [ObjectStoreName.models],
    readsObjects: [ObjectStoreName.models],
    // Its replicas' lease: the holder announces what every replica computes alike.
    writesBuckets: [BucketName.detectorLease],
    readsBuckets: [BucketName.detectorLease],
    durables: { 'detector-threat-intel': e.telemetryAccess },
  },
  enforcer: {
    ...none,
    publishes: [e.policyApplied, e.telemetryDecision, ...enforceAll, e.alert, ...auditWrite],
    subscribes: [
      e.alert,
      ...enforceAll,
      e.policyCommitted,
      e.identityRevoked,
      e.identityBundle,
      e.topologyChanged,
    ],
    serves: [e.enforcerStatus],
    requests: [e.caBundle, e.topologyQuery],
    writesBuckets: [BucketName.containment],
    readsBuckets: [BucketName.containment, BucketName.policy],
    readsObjects: [ObjectStoreName.bundles],
    durables: {
      'enforcer-containment-deny': e.enforceDeny,
      'enforcer-containment-quarantine': e.enforceQuarantine,
      'enforcer-containment-release': e.enforceRelease,
      'enforcer-playbooks': e.alert,
    },
  },
  console: {
    ...none,
    publishes: [e.policySubmit, ...enforceAll, ...auditWrite],
    subscribes: [
      e.alert,
      ...auditRead,
      e.policyCommitted,
      e.policyRejected,
      e.policyApplied,
      e.identityIssued,
      e.identityRevoked,
      e.topologyChanged,
    ],
    requests: [e.caBundle, e.policyStatus, e.topologyQuery, e.enforcerStatus],
    readsBuckets: [BucketName.containment],
  },
  user: {
    ...none,
    publishes: [e.policySubmit, ...enforceAll, e.identityEntry, e.topologyRegister, e.topologyDeregister],
    subscribes: [e.alert, ...auditRead, e.policyCommitted, e.policyRejected],
    requests: [e.policyStatus, e.topologyQuery, e.caBundle, e.caToken, e.enforcerStatus],
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

/**
 * NATS accounts, the isolation nats-server enforces (ARCHITECTURE §7). Services and the operator
 * share `WARDEN`; people and workloads each have an account of their own that reaches `WARDEN`
 * only through the imports derived below. A subject that is not imported does not exist for
 * them. People's history lives in a fourth account, `PEOPLE_HISTORY`, that has no user and
 * imports nothing but its feeds: people reach its JetStream API through an import, so a push
 * consumer they create there delivers into a subject space with nowhere to go.
 */
export const Account = {
  warden: 'WARDEN',
  people: 'PEOPLE',
  history: 'PEOPLE_HISTORY',
  workloads: 'WORKLOADS',
} as const;
export type Account = (typeof Account)[keyof typeof Account];

export const accountOf = (identity: Principal | 'admin'): Account =>
  identity === Principal.user
    ? Account.people
    : identity === Principal.workload
      ? Account.workloads
      : Account.warden;

/** The principals outside `WARDEN`. */
export const outsidePrincipals = [Principal.user, Principal.workload] as const;

/** Streams holding an event that someone outside `WARDEN` may publish. */
const streamsWritableFromOutside: ReadonlySet<string> = new Set(
  outsidePrincipals.flatMap((p) => grants[p].publishes.flatMap((def) => (def.stream ? [def.stream] : []))),
);

/**
 * The JetStream streams (by name) that people read history from: a read-only mirror of the same
 * name in `PEOPLE_HISTORY` for each stream, bucket and object store people read, except a stream that
 * people or workloads can write to, whose copy could be sent back in through an import. Those
 * (the policy events above all) are readable live only.
 */
export const peopleMirrors: readonly string[] = [
  ...new Set([
    ...grants.user.subscribes.flatMap((def) => (def.stream ? [def.stream] : [])),
    ...grants.user.readsBuckets.map(kvStreamName),
    ...grants.user.readsObjects.map(objectStreamName),
  ]),
]
  .filter((stream) => !streamsWritableFromOutside.has(stream))
  .sort();

/** The principal that owns a stream, a bucket's stream or an object store's stream. */
export function ownerOf(stream: string): ServiceName | undefined {
  if (stream in streamOwners) return streamOwners[stream as StreamName];
  for (const name of servicePrincipals) {
    const grant = grants[name];
    if (grant.writesBuckets.some((b) => kvStreamName(b) === stream)) return name;
    if (grant.writesObjects.some((o) => objectStreamName(o) === stream)) return name;
  }
  return undefined;
}

/** The inbox prefix of a principal: replies to it can be read by it alone. */
export const inboxPrefix = (principal: Principal): string => `_INBOX_${principal.replace(/-/g, '_')}`;

/**
 * The subjects a principal publishes an event under: an event whose first qualifier is
 * `principal` (the audit log) only under its own name, so a record cannot claim another writer.
 */
export function publishFilter(def: EventDef, principal: Principal): string {
  return def.qualifiers[0] === 'principal' ? filterOf(def, { principal }) : filterOf(def);
}

export type NatsPermissions = {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[] };
};

/** The nats-server permissions for one principal, derived from its grant. */
export function natsPermissions(principal: Principal): NatsPermissions {
  return accountOf(principal) === Account.warden
    ? servicePermissions(principal)
    : outsidePermissions(principal);
}

/** JetStream reads of a stream: info, consumers, direct and stored gets, acks. */
function readStreamSubjects(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.CONSUMER.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.ACK.${stream}.>`,
  ];
}

/**
 * A principal outside `WARDEN` publishes its events and requests (imported into `WARDEN`) and
 * reads its live subjects; people also read their mirrors through the JetStream API of
 * `PEOPLE_HISTORY`. Neither may create or change a stream anywhere.
 */
function outsidePermissions(principal: Principal): NatsPermissions {
  const grant = grants[principal];
  const publish = new Set<string>([
    ...grant.publishes.map((def) => publishFilter(def, principal)),
    ...grant.requests.map((def) => def.subject),
  ]);
  const subscribe = new Set<string>([
    `${inboxPrefix(principal)}.>`,
    ...grant.subscribes.map((def) => filterOf(def)),
    ...(grant.subscribeWildcards ?? []),
  ]);
  const deny = new Set<string>();
  if (accountOf(principal) === Account.people) {
    for (const subject of ['$JS.API.INFO', '$JS.API.STREAM.NAMES', '$JS.API.STREAM.LIST'])
      publish.add(subject);
    for (const stream of peopleMirrors) {
      for (const subject of readStreamSubjects(stream)) publish.add(subject);
      publish.add(`$JS.FC.${stream}.>`);
      // A consumer named like the mirror's feed would share its flow-control subjects, and
      // the create request without a name in its subject carries the name where no permission
      // can see it.
      deny.add(`$JS.API.CONSUMER.CREATE.${stream}`);
      deny.add(`$JS.API.CONSUMER.*.${stream}.${MIRROR_FEED}`);
      deny.add(`$JS.API.CONSUMER.*.${stream}.${MIRROR_FEED}.>`);
      deny.add(`$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${MIRROR_FEED}`);
      deny.add(`$JS.FC.${stream}.${MIRROR_FEED}.>`);
    }
  }
  return {
    publish: { allow: [...publish].sort(), ...(deny.size ? { deny: [...deny].sort() } : {}) },
    subscribe: { allow: [...subscribe].sort() },
  };
}

function servicePermissions(principal: Principal): NatsPermissions {
  const grant = grants[principal];
  const publish = new Set<string>(['$JS.API.INFO']);
  const subscribe = new Set<string>([`${inboxPrefix(principal)}.>`]);

  const readStream = (stream: string): void => {
    for (const subject of readStreamSubjects(stream)) publish.add(subject);
  };
  const ownStream = (stream: string): void => {
    publish.add(`$JS.API.STREAM.INFO.${stream}`);
    publish.add(`$JS.API.STREAM.CREATE.${stream}`);
    publish.add(`$JS.API.STREAM.UPDATE.${stream}`);
    // The owner also keeps the stream's mirror for people: the feeding consumer here, the
    // mirror itself in PEOPLE_HISTORY.
    if (!peopleMirrors.includes(stream)) return;
    for (const op of ['CREATE', 'INFO', 'DURABLE.CREATE'])
      publish.add(`$JS.API.CONSUMER.${op}.${stream}.${MIRROR_FEED}`);
    for (const op of ['CREATE', 'UPDATE', 'INFO']) publish.add(`${PEOPLE_JS_API}.STREAM.${op}.${stream}`);
  };

  for (const def of grant.publishes) {
    publish.add(publishFilter(def, principal));
    if (!def.stream) continue;
    // A writer under its own name continues from the last message it stored there (the head of
    // its audit chain after a restart): a direct get names the subject, so that is all it reads.
    if (def.qualifiers[0] === 'principal')
      publish.add(`$JS.API.DIRECT.GET.${def.stream}.${publishFilter(def, principal)}`);
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
  peopleMirrors: string[];
} {
  const grant = grants[principal];
  const streams = (Object.keys(streamOwners) as StreamName[]).filter((s) => streamOwners[s] === principal);
  return {
    streams,
    buckets: [...grant.writesBuckets],
    objectStores: [...grant.writesObjects],
    peopleMirrors: peopleMirrors.filter((stream) => ownerOf(stream) === principal),
  };
}

export const allStreams: readonly StreamName[] = Object.values(StreamName);
