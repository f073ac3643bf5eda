import {
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import type { AckPolicy, JetStreamManager, StreamConfig, StreamSource } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { nanos } from '@nats-io/nats-core';
import type { NatsConnection } from '@nats-io/nats-core';
import { Objm } from '@nats-io/obj';
import { messageOf } from '@warden/core';
import { events } from './catalog.ts';
import { BucketName, filterOf, ObjectStoreName, StreamName } from './define.ts';
import { EventsError } from './errors.ts';
import { isConsumerNotFound, isStreamNotFound } from './nats-errors.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const GIB = 1024 ** 3;

export type StreamSpec = {
  name: StreamName;
  description: string;
  maxAgeMs: number;
  maxBytes: number;
  /** Audit is append-only: nobody deletes or purges it, not even its owner. */
  appendOnly: boolean;
  /**
   * Answers direct gets, which name the subject in the API subject: so a permission can let each
   * audit writer read the last record of its own chain, and nothing else.
   */
  allowDirect?: boolean;
};

/** Retention per stream, ARCHITECTURE §2. `0` age and `-1` bytes mean unlimited. */
export const streamSpecs: readonly StreamSpec[] = [
  {
    name: StreamName.policy,
    description: 'policy submissions and lifecycle',
    maxAgeMs: 0,
    maxBytes: -1,
    appendOnly: false,
  },
  {
    name: StreamName.telemetry,
    description: 'access records and windowed features',
    maxAgeMs: 24 * HOUR_MS,
    maxBytes: 4 * GIB,
    appendOnly: false,
  },
  { name: StreamName.alerts, description: 'alerts', maxAgeMs: 30 * DAY_MS, maxBytes: -1, appendOnly: false },
  {
    name: StreamName.enforcement,
    description: 'containment actions',
    maxAgeMs: 0,
    maxBytes: -1,
    appendOnly: false,
  },
  // Unlimited unless the operator sets WARDEN_AUDIT_MAX_AGE_DAYS / WARDEN_AUDIT_MAX_BYTES (§2).
  {
    name: StreamName.audit,
    description: 'audit log',
    maxAgeMs: 0,
    maxBytes: -1,
    appendOnly: true,
    allowDirect: true,
  },
  {
    name: StreamName.identity,
    description: 'issuance, revocation, bundles, entries',
    maxAgeMs: 0,
    maxBytes: -1,
    appendOnly: false,
  },
  {
    name: StreamName.topology,
    description: 'registry changes, registrations and call-graph snapshots',
    maxAgeMs: 7 * DAY_MS,
    // Graph snapshots republish every active edge each interval (about 5 GiB a week for 2 000
    // active edges at one a minute), and a rebuild reads them all: the oldest go past 2 GiB.
    maxBytes: 2 * GIB,
    appendOnly: false,
  },
];

/** The longest a join token may live (`WARDEN_CA_TOKEN_MAX_TTL_SECONDS` is capped below it). */
export const JOIN_TOKEN_MAX_TTL_MS = 29 * DAY_MS;

/** A CA replica that dies holding the lease is replaced within this plus a fifth of it. */
export const CA_LEASE_TTL_MS = 6000;

/** A detector replica that dies holding the lease is replaced within this plus a fifth of it. */
export const DETECTOR_LEASE_TTL_MS = 6000;

export const bucketSpecs: readonly { name: BucketName; history: number; maxAgeMs?: number }[] = [
  { name: BucketName.policy, history: 16 },
  { name: BucketName.containment, history: 8 },
  // A used token is remembered a day past the longest a token can live: by then it has expired.
  { name: BucketName.joinTokens, history: 1, maxAgeMs: JOIN_TOKEN_MAX_TTL_MS + DAY_MS },
  // The bucket's max age is the lease's TTL: a holder that stops renewing loses it by itself.
  { name: BucketName.caLease, history: 1, maxAgeMs: CA_LEASE_TTL_MS },
  { name: BucketName.caCrl, history: 1 },
  { name: BucketName.detectorLease, history: 1, maxAgeMs: DETECTOR_LEASE_TTL_MS },
];

export const objectStoreSpecs: readonly { name: ObjectStoreName }[] = [
  { name: ObjectStoreName.bundles },
  { name: ObjectStoreName.models },
];

/** The subject filters each stream captures, derived from the catalogue. */
export function streamSubjects(stream: StreamName): string[] {
  return Object.values(events)
    .filter((def) => def.stream === stream)
    .map((def) => filterOf(def));
}

/** JetStream stream names behind KV buckets and object stores. */
export const kvStreamName = (bucket: BucketName): string => `KV_${bucket}`;
export const objectStreamName = (store: ObjectStoreName): string => `OBJ_${store}`;

/** The durable consumer in `WARDEN` that feeds a stream's mirror in `PEOPLE_HISTORY`. */
export const MIRROR_FEED = 'people-mirror';
/** Where that consumer delivers: exported to `PEOPLE_HISTORY`, where the mirror reads it. */
export const mirrorDeliverSubject = (stream: string): string => `warden.mirror.${stream}`;
/** How a `WARDEN` service reaches the stream API of `PEOPLE_HISTORY` (to create the mirrors). */
export const PEOPLE_JS_API = '$JS.PEOPLE.API';
/** How a mirror in `PEOPLE_HISTORY` reaches the `WARDEN` JetStream API (only its feed consumer's reset). */
export const WARDEN_JS_API = '$JS.WARDEN.API';

/** How long JetStream remembers a message id to drop a re-published duplicate. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

/** Copies of each stream, bucket and object store: 1 on a single node, 3 on a cluster (ARCHITECTURE §6). */
export const MAX_REPLICAS = 5;

export function streamConfig(spec: StreamSpec, replicas = 1): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    description: spec.description,
    subjects: streamSubjects(spec.name),
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(spec.maxAgeMs),
    max_bytes: spec.maxBytes,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    deny_delete: spec.appendOnly,
    deny_purge: spec.appendOnly,
    allow_direct: spec.allowDirect ?? false,
    num_replicas: replicas,
  };
}

export class ProvisioningError extends EventsError {
  constructor(what: string, cause: unknown) {
    super('provisioning_failed', `cannot provision ${what}: ${messageOf(cause)}`, { cause });
  }
}

export type ProvisionTargets = {
  streams?: readonly StreamName[];
  buckets?: readonly BucketName[];
  objectStores?: readonly ObjectStoreName[];
  /** Streams (by JetStream name) whose read-only copy in `PEOPLE_HISTORY` this principal keeps. */
  peopleMirrors?: readonly string[];
  /** Retention the operator chose instead of the catalogue's, by stream. */
  retention?: Partial<Record<StreamName, Retention>>;
  /**
   * JetStream copies of every stream, bucket, object store and mirror (1 unless given). A stream
   * with fewer is scaled up; every provisioner of one deployment must pass the same count.
   */
  replicas?: number;
};

/** How long and how much a stream keeps: `0` age and `-1` bytes mean unlimited. */
export type Retention = { maxAgeMs: number; maxBytes: number };

/** How much of each stream people's copy keeps: `PEOPLE_HISTORY` refuses a stream without a size limit. */
const PEOPLE_MIRROR_MAX_BYTES = 512 * 1024 ** 2;

/**
 * Creates or updates the named streams and buckets so that they match the catalogue. Safe to
 * run any number of times, by any number of services at once.
 */
export async function provision(nc: NatsConnection, targets: ProvisionTargets): Promise<void> {
  const replicas = targets.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS)
    throw new ProvisioningError(
      'streams',
      new Error(`replicas must be 1 to ${MAX_REPLICAS}, not ${replicas}`),
    );
  const jsm = await jetstreamManager(nc);
  for (const name of targets.streams ?? []) {
    const spec = streamSpecs.find((s) => s.name === name);
    if (!spec) throw new ProvisioningError(name, new Error('not in the catalogue'));
    await ensureStream(jsm, { ...spec, ...targets.retention?.[name] }, replicas);
  }
  for (const name of targets.buckets ?? []) {
    const spec = bucketSpecs.find((b) => b.name === name);
    if (!spec) throw new ProvisioningError(name, new Error('not in the catalogue'));
    try {
      await new Kvm(nc).create(spec.name, {
        history: spec.history,
        storage: StorageType.File,
        replicas,
        ...(spec.maxAgeMs ? { ttl: spec.maxAgeMs } : {}),
      });
    } catch (err) {
      throw new ProvisioningError(`KV ${name}`, err);
    }
  }
  for (const name of targets.objectStores ?? []) {
    try {
      await new Objm(nc).create(name, { storage: StorageType.File, replicas });
    } catch (err) {
      throw new ProvisioningError(`object store ${name}`, err);
    }
  }
  for (const stream of targets.peopleMirrors ?? []) {
    try {
      await ensurePeopleMirror(nc, jsm, stream, replicas);
    } catch (err) {
      throw new ProvisioningError(`people's mirror of ${stream}`, err);
    }
  }
}

/**
 * People read history from a read-only copy in `PEOPLE_HISTORY`, fed by a durable push consumer
 * that `WARDEN` owns: people never get to create a consumer on a `WARDEN` stream, whose deliver
 * subject they would choose.
 */
async function ensurePeopleMirror(
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  replicas: number,
): Promise<void> {
  const feed = await jsm.consumers.info(stream, MIRROR_FEED).catch((err: unknown) => {
    if (isConsumerNotFound(err)) return null;
    throw err;
  });
  if (!feed) {
    await jsm.consumers.add(stream, {
      durable_name: MIRROR_FEED,
      deliver_subject: mirrorDeliverSubject(stream),
      deliver_policy: DeliverPolicy.All,
      // Flow-control acks: the feed advances only as fast as the mirror stores.
      ack_policy: 'flow_control' as AckPolicy,
      flow_control: true,
      idle_heartbeat: nanos(1000),
      max_ack_pending: 1000,
    });
  }
  const people = await jetstreamManager(nc, { apiPrefix: PEOPLE_JS_API, checkAPI: false });
  const source = await jsm.streams.info(stream);
  const wanted: Partial<StreamConfig> & { name: string } = {
    name: stream,
    description: `read-only copy of ${stream} for people`,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: source.config.max_age,
    max_bytes: PEOPLE_MIRROR_MAX_BYTES,
    num_replicas: replicas,
    // Object stores and buckets are read with direct gets.
    allow_direct: true,
    mirror: {
      name: stream,
      external: { api: WARDEN_JS_API, deliver: '' },
      consumer: { name: MIRROR_FEED, deliver_subject: mirrorDeliverSubject(stream) },
      // nats.js does not know `consumer` (a durable source, nats-server 2.12+) nor the
      // `flow_control` ack policy above yet.
    } as StreamSource,
  };
  const current = await people.streams.info(stream).catch((err: unknown) => {
    if (isStreamNotFound(err)) return null;
    throw err;
  });
  if (!current) await people.streams.add(wanted);
  else if (
    current.config.max_age !== wanted.max_age ||
    current.config.max_bytes !== wanted.max_bytes ||
    current.config.num_replicas < replicas
  )
    await people.streams.update(stream, wanted);
}

async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, replicas: number): Promise<void> {
  const wanted = streamConfig(spec, replicas);
  try {
    const current = await jsm.streams.info(spec.name).catch((err: unknown) => {
      if (isStreamNotFound(err)) return null;
      throw err;
    });
    if (!current) {
      await jsm.streams.add(wanted);
      return;
    }
    const cfg = current.config;
    const same =
      sameSet(cfg.subjects ?? [], wanted.subjects ?? []) &&
      cfg.max_age === wanted.max_age &&
      cfg.max_bytes === wanted.max_bytes &&
      cfg.duplicate_window === wanted.duplicate_window &&
      cfg.deny_delete === wanted.deny_delete &&
      cfg.deny_purge === wanted.deny_purge &&
      cfg.allow_direct === wanted.allow_direct &&
      cfg.description === wanted.description &&
      cfg.num_replicas >= replicas;
    // Never fewer copies than the stream has: a provisioner with a lower count must not shrink it.
    if (!same)
      await jsm.streams.update(spec.name, {
        ...wanted,
        num_replicas: Math.max(cfg.num_replicas, replicas),
      });
  } catch (err) {
    throw new ProvisioningError(`stream ${spec.name}`, err);
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
