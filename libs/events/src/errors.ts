/**
 * Errors of the bus. Each has a stable snake_case `code`, used in logs and as a metric label;
 * tests check the class, not the message.
 */
export class EventsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EventsError';
    this.code = code;
  }
}

export class InvalidSubjectError extends EventsError {
  constructor(message: string) {
    super('invalid_subject', message);
    this.name = 'InvalidSubjectError';
  }
}

/** A payload failed its subject's schema. `issues` lists each failing path and why. */
export class InvalidPayloadError extends EventsError {
  readonly subject: string;
  readonly issues: readonly string[];
  constructor(subject: string, issues: readonly string[]) {
    super('invalid_payload', `invalid payload for ${subject}: ${issues.join('; ')}`);
    this.name = 'InvalidPayloadError';
    this.subject = subject;
    this.issues = issues;
  }
}

/** A responder answered with an error; `remoteCode` is its code. */
export class RemoteError extends EventsError {
  readonly remoteCode: string;
  constructor(subject: string, remoteCode: string, message: string) {
    super('remote_error', `${subject}: ${remoteCode}: ${message}`);
    this.name = 'RemoteError';
    this.remoteCode = remoteCode;
  }
}

export class RequestTimeoutError extends EventsError {
  constructor(subject: string, timeoutMs: number, options?: ErrorOptions) {
    super('request_timeout', `${subject}: no reply within ${timeoutMs} ms`, options);
    this.name = 'RequestTimeoutError';
  }
}

export class PayloadTooLargeError extends EventsError {
  constructor(subject: string, bytes: number, limit: number) {
    super('payload_too_large', `${subject}: payload of ${bytes} bytes exceeds the limit of ${limit}`);
    this.name = 'PayloadTooLargeError';
  }
}
