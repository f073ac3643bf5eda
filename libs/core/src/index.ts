export type { BackoffOptions, BackoffPolicy } from './backoff.ts';
export { Backoff, backoffDelay, pause } from './backoff.ts';
export { codeOf, messageOf, WardenError } from './errors.ts';
export { isLoopbackHost } from './net.ts';
