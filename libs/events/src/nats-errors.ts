import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { errors } from '@nats-io/nats-core';

/**
 * NATS failures recognised by nats.js's typed errors, never by their message. nats.js wraps the
 * error that matters (JetStream's "not enabled" carries the request's no-responders error as its
 * cause), so each check walks the cause chain.
 */
function* causes(err: unknown): Generator<unknown> {
  for (let depth = 0; err !== undefined && err !== null && depth < 8; depth++) {
    yield err;
    err = err instanceof Error ? err.cause : undefined;
  }
}

/** Nobody serves the subject: no responder for a request, no stream for a JetStream publish. */
export function isNoResponders(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e instanceof errors.NoRespondersError) return true;
    if (e instanceof errors.RequestError && e.isNoResponders()) return true;
  }
  return false;
}

/** The request got no answer in time. */
export function isTimeout(err: unknown): boolean {
  for (const e of causes(err)) if (e instanceof errors.TimeoutError) return true;
  return false;
}

/** nats-server refused the operation under this connection's permissions. */
export function isPermissionDenied(err: unknown): boolean {
  for (const e of causes(err)) if (e instanceof errors.PermissionViolationError) return true;
  return false;
}

function isApiError(err: unknown, code: number): boolean {
  for (const e of causes(err)) if (e instanceof JetStreamApiError && e.code === code) return true;
  return false;
}

/** The JetStream API says the stream does not exist (yet). */
export function isStreamNotFound(err: unknown): boolean {
  return isApiError(err, JetStreamApiCodes.StreamNotFound);
}

/** The JetStream API says the consumer does not exist. */
export function isConsumerNotFound(err: unknown): boolean {
  return isApiError(err, JetStreamApiCodes.ConsumerNotFound);
}

/**
 * A compare-and-set write lost: KV `create` on a key that exists, or `update` with a revision
 * that is no longer the key's last.
 */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    isApiError(err, JetStreamApiCodes.StreamWrongLastSequence) ||
    isApiError(err, JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
