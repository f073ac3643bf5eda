import { z } from 'zod';
import { envelopeFields } from './envelope.ts';
import { InvalidSubjectError } from './errors.ts';
import type { Validator } from './validate.ts';
import { compileValidator } from './validate.ts';

/** Streams, key-value buckets and object stores of ARCHITECTURE §2, by name. */
export const StreamName = {
  policy: 'WARDEN_POLICY',
  telemetry: 'WARDEN_TELEMETRY',
  alerts: 'WARDEN_ALERTS',
  enforcement: 'WARDEN_ENFORCEMENT',
  audit: 'WARDEN_AUDIT',
  identity: 'WARDEN_IDENTITY',
  topology: 'WARDEN_TOPOLOGY',
} as const;
export type StreamName = (typeof StreamName)[keyof typeof StreamName];

export const BucketName = {
  policy: 'warden-policy',
  containment: 'warden-containment',
  /** Which join tokens have been used: the CA's durable single-use record. */
  joinTokens: 'warden-join-tokens',
  /** Which CA replica signs CRLs, publishes the bundle and processes revocations (a lease). */
  caLease: 'warden-ca-lease',
  /** The CRLs the lease holder signed last, which every CA replica serves over HTTP. */
  caCrl: 'warden-ca-crl',
  /** Which detector replica announces the alerts every replica computes alike (a lease). */
  detectorLease: 'warden-detector-lease',
} as const;
export type BucketName = (typeof BucketName)[keyof typeof BucketName];

export const ObjectStoreName = {
  bundles: 'warden-bundles',
  /** Trained behaviour models, versioned, with their training window and metrics as metadata. */
  models: 'warden-models',
} as const;
export type ObjectStoreName = (typeof ObjectStoreName)[keyof typeof ObjectStoreName];

/**
 * One event type: a subject prefix, the qualifier tokens that follow it, where it is stored
 * (a JetStream stream, or core NATS when `stream` is null), and its payload schema.
 */
export type EventDef<TData = unknown, TQualifier extends string = string> = {
  readonly kind: 'event';
  readonly schema: string;
  readonly qualifiers: readonly TQualifier[];
  readonly stream: StreamName | null;
  readonly data: z.ZodType<TData>;
  readonly envelope: z.ZodType<{ id: string; time: string; source: string; schema: string; data: TData }>;
  readonly validateData: Validator<TData>;
  readonly validateEnvelope: Validator<{
    id: string;
    time: string;
    source: string;
    schema: string;
    data: TData;
  }>;
};

export type RequestDef<TReq = unknown, TRes = unknown> = {
  readonly kind: 'request';
  readonly subject: string;
  readonly request: z.ZodType<TReq>;
  readonly reply: z.ZodType<TRes>;
  readonly requestEnvelope: z.ZodType<{
    id: string;
    time: string;
    source: string;
    schema: string;
    data: TReq;
  }>;
  readonly validateRequest: Validator<TReq>;
  readonly validateRequestEnvelope: Validator<{
    id: string;
    time: string;
    source: string;
    schema: string;
    data: TReq;
  }>;
  readonly validateReply: Validator<TRes>;
};

export type DataOf<E> = E extends EventDef<infer T> ? T : E extends RequestDef<infer T> ? T : never;
export type ReplyOf<R> = R extends RequestDef<unknown, infer T> ? T : never;
export type QualifiersOf<E> = E extends EventDef<unknown, infer Q> ? Q : never;

const SUBJECT_PREFIX = /^warden\.[a-z]+\.v[0-9]+(\.[a-z]+)?$/;
/** A qualifier is one subject token: no dots, no wildcards, no whitespace. */
const QUALIFIER_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

export function defineEvent<TData, const TQualifier extends string = never>(spec: {
  schema: string;
  qualifiers?: readonly TQualifier[];
  stream: StreamName | null;
  data: z.ZodType<TData>;
}): EventDef<TData, TQualifier> {
  if (!SUBJECT_PREFIX.test(spec.schema)) throw new InvalidSubjectError(`bad subject prefix ${spec.schema}`);
  const envelope = z.object({ ...envelopeFields, schema: z.literal(spec.schema), data: spec.data });
  return {
    kind: 'event',
    schema: spec.schema,
    qualifiers: spec.qualifiers ?? [],
    stream: spec.stream,
    data: spec.data,
    envelope,
    validateData: compileValidator(spec.data),
    validateEnvelope: compileValidator(envelope),
  };
}

export function defineRequest<TReq, TRes>(spec: {
  subject: string;
  request: z.ZodType<TReq>;
  reply: z.ZodType<TRes>;
}): RequestDef<TReq, TRes> {
  if (!SUBJECT_PREFIX.test(spec.subject)) throw new InvalidSubjectError(`bad subject ${spec.subject}`);
  const requestEnvelope = z.object({
    ...envelopeFields,
    schema: z.literal(spec.subject),
    data: spec.request,
  });
  return {
    kind: 'request',
    subject: spec.subject,
    request: spec.request,
    reply: spec.reply,
    requestEnvelope,
    validateRequest: compileValidator(spec.request),
    validateRequestEnvelope: compileValidator(requestEnvelope),
    validateReply: compileValidator(spec.reply),
  };
}

/** The concrete subject for one event: the prefix followed by every qualifier, in order. */
export function subjectOf<Q extends string>(
  def: EventDef<unknown, Q>,
  qualifiers?: Record<Q, string>,
): string {
  if (def.qualifiers.length === 0) return def.schema;
  const tokens = def.qualifiers.map((name) => {
    const value = qualifiers?.[name];
    if (value === undefined || !QUALIFIER_TOKEN.test(value)) {
      throw new InvalidSubjectError(
        `${def.schema}: qualifier ${name} must be one subject token (letters, digits, _ or -), got ${JSON.stringify(value)}`,
      );
    }
    return value;
  });
  return `${def.schema}.${tokens.join('.')}`;
}

/** A subscription filter: given qualifiers are fixed, the rest are `*`. */
export function filterOf<Q extends string>(
  def: EventDef<unknown, Q>,
  fixed: Partial<Record<Q, string>> = {},
): string {
  if (def.qualifiers.length === 0) return def.schema;
  const tokens = def.qualifiers.map((name) => {
    const value = fixed[name];
    if (value === undefined) return '*';
    if (!QUALIFIER_TOKEN.test(value)) {
      throw new InvalidSubjectError(
        `${def.schema}: qualifier ${name} is not one subject token: ${JSON.stringify(value)}`,
      );
    }
    return value;
  });
  return `${def.schema}.${tokens.join('.')}`;
}

/** Does a concrete subject belong to this event type? */
export function matchesEvent(def: EventDef, subject: string): boolean {
  if (!subject.startsWith(def.schema)) return false;
  const rest = subject.slice(def.schema.length);
  if (def.qualifiers.length === 0) return rest === '';
  const tokens = rest.split('.');
  return tokens[0] === '' && tokens.length === def.qualifiers.length + 1;
}
