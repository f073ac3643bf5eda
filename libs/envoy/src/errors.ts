import { WardenError } from '@warden/core';

/** Errors of the Envoy API layer. */
export class EnvoyProtoError extends WardenError {}
