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
  ConsumeOptions,
  InvalidMessage,
  Handler,
  PublishOptions,
  ReplayHandler,
  ReplayResult,
  RunningConsumer,
} from './bus.ts';
export { Bus, onReplay } from './bus.ts';
export {
  isConsumerNotFound,
  isNoResponders,
  isPermissionDenied,
  isStreamNotFound,
  isTimeout,
} from './nats-errors.ts';
export type { BusMetrics } from './metrics.ts';
export { createBusMetrics } from './metrics.ts';
export type { Grant, NatsPermissions, ServiceName } from './permissions.ts';
export {
  allStreams,
  grants,
  inboxPrefix,
  natsPermissions,
  ownedResources,
  Principal,
  servicePrincipals,
} from './permissions.ts';
export type { ProvisionTargets, StreamSpec } from './streams.ts';
export {
  bucketSpecs,
  JOIN_TOKEN_MAX_TTL_MS,
  kvStreamName,
  objectStoreSpecs,
  objectStreamName,
  provision,
  ProvisioningError,
  streamConfig,
  streamSpecs,
  streamSubjects,
} from './streams.ts';
export type { Validator } from './validate.ts';
export { compileValidator, jsonSchemaOf } from './validate.ts';
