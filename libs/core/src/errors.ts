/**
 * The one error base of Warden. Every package's errors extend it: a stable snake_case `code`,
 * used in logs, metric labels and error replies on the bus, and the standard `cause`. Tests check
 * the class or the code, never the message. This module imports nothing, so the pure libraries
 * (`@warden/pki`, `@warden/policy-engine`) use it too.
 */
export class WardenError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The code of anything thrown: a responder's own code for an error reply from the bus
 * (`remoteCode`), else the error's `code` (Warden's, or Node's such as `ENOENT`), else `internal`.
 */
export function codeOf(err: unknown, fallback = 'internal'): string {
  if (err && typeof err === 'object') {
    if ('remoteCode' in err && typeof err.remoteCode === 'string') return err.remoteCode;
    if ('code' in err && typeof err.code === 'string') return err.code;
  }
  return fallback;
}

/** A thrown value's message, for logs and replies: an Error's message, else the value as text. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
