/** Errors of the Envoy API layer; `code` is stable snake_case for logs and metric labels. */
export class EnvoyProtoError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EnvoyProtoError';
    this.code = code;
  }
}
