export * from './catalog.ts';
export type { DataOf, EventDef, QualifiersOf, ReplyOf, RequestDef } from './define.ts';
export { BucketName, filterOf, matchesEvent, ObjectStoreName, StreamName, subjectOf } from './define.ts';
export type { Envelope } from './envelope.ts';
export { newEnvelope } from './envelope.ts';
export {
  EventsError,
  InvalidPayloadError,
  InvalidSubjectError,
  PayloadTooLargeError,
  RemoteError,
  RequestTimeoutError,
} from './errors.ts';
export type {
  BusLogger,
  BusOptions,
  Caller,
  Responder,
  ConsumeOptions,
  InvalidMessage,
  Handler,
  PublishOptions,
  ReplayHandler,
  ReplayResult,
  RunningConsumer,
  StoredMessage,
} from './bus.ts';
export { Bus, onReplay } from './bus.ts';
export type { AuditEntryInput, AuditWriterOptions } from './audit-writer.ts';
export { AuditWriter, writerToken } from './audit-writer.ts';
export {
  isConsumerNotFound,
  isNoResponders,
  isPermissionDenied,
  isStreamNotFound,
  isTimeout,
  isWrongLastSequence,
} from './nats-errors.ts';
export type { LeaseOptions } from './lease.ts';
export { Lease } from './lease.ts';
export type { BusMetrics } from './metrics.ts';
export { createBusMetrics } from './metrics.ts';
export type { AccountExport, AccountImport, AccountSpec } from './accounts.ts';
export { accountLayout, covers } from './accounts.ts';
export type { Grant, NatsPermissions, ServiceName } from './permissions.ts';
export {
  Account,
  accountOf,
  outsidePrincipals,
  ownerOf,
  peopleMirrors,
  allStreams,
  grants,
  inboxPrefix,
  natsPermissions,
  ownedResources,
  Principal,
  servicePrincipals,
  streamOwners,
} from './permissions.ts';
export type { ProvisionTargets, Retention, StreamSpec } from './streams.ts';
export {
  bucketSpecs,
  JOIN_TOKEN_MAX_TTL_MS,
  CA_LEASE_TTL_MS,
  DETECTOR_LEASE_TTL_MS,
  kvStreamName,
  MIRROR_FEED,
  mirrorDeliverSubject,
  objectStoreSpecs,
  PEOPLE_JS_API,
  MAX_REPLICAS,
  objectStreamName,
  provision,
  ProvisioningError,
  streamConfig,
  streamSpecs,
  streamSubjects,
  WARDEN_JS_API,
} from './streams.ts';
export type { Validator } from './validate.ts';
export { compileValidator, jsonSchemaOf } from './validate.ts';
export { OBJECT_CHUNK_BYTES, ObjectReader } from './objects.ts';
