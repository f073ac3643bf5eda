import { WardenError } from '@warden/core';

/** The trust domain's folder is missing, unreadable, inconsistent, or being changed by another writer. */
export class CaStateError extends WardenError {
  constructor(message: string, options?: ErrorOptions) {
    super('ca_state', message, options);
  }
}

/** A key-encryption key that is not usable, or a sealed key that does not open. */
export class KmsError extends WardenError {
  constructor(code: 'kek_invalid' | 'unseal_failed' | 'wrong_kek', message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
