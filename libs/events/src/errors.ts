import { WardenError } from '@warden/core';

/** Errors of the bus; each subclass has its stable `code`. */
export class EventsError extends WardenError {}

export class InvalidSubjectError extends EventsError {
  constructor(message: string) {
    super('invalid_subject', message);
  }
}

/** A payload failed its subject's schema. `issues` lists each failing path and why. */
export class InvalidPayloadError extends EventsError {
  readonly subject: string;
  readonly issues: readonly string[];
  constructor(subject: string, issues: readonly string[]) {
    super('invalid_payload', `invalid payload for ${subject}: ${issues.join('; ')}`);
    this.subject = subject;
    this.issues = issues;
  }
}

/** A responder answered with an error; `remoteCode` is its code. */
export class RemoteError extends EventsError {
  readonly remoteCode: string;
  constructor(subject: string, remoteCode: string, message: string) {
    super('remote_error', `${subject}: ${remoteCode}: ${message}`);
    this.remoteCode = remoteCode;
  }
}

export class RequestTimeoutError extends EventsError {
  constructor(subject: string, timeoutMs: number, options?: ErrorOptions) {
    super('request_timeout', `${subject}: no reply within ${timeoutMs} ms`, options);
  }
}

export class PayloadTooLargeError extends EventsError {
  constructor(subject: string, bytes: number, limit: number) {
    super('payload_too_large', `${subject}: payload of ${bytes} bytes exceeds the limit of ${limit}`);
  }
}
