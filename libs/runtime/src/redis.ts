/**
 * A service's Redis credentials: its ACL user and a password file (0600, written by the stack's
 * set-up like the NATS seeds), so no password sits in the environment or in a URL in the logs.
 */
import { readFileSync } from 'node:fs';
import { WardenError } from '@warden/core';
import { z } from 'zod';

export const redisAuthConfigShape = {
  /** This service's Redis ACL user; unset connects as the default user (a Redis without ACLs). */
  WARDEN_REDIS_USER: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,63}$/, 'a Redis user name')
    .optional(),
  /** The file holding that user's password. */
  WARDEN_REDIS_PASSWORD_FILE: z.string().min(1).optional(),
};

export class RedisCredentialsError extends WardenError {
  constructor(file: string, cause: unknown) {
    super('redis_credentials', `cannot read the Redis password file ${file}`, { cause });
  }
}

/** Options for ioredis: `username` and `password` from the configuration, or nothing. */
export function redisAuth(config: {
  WARDEN_REDIS_USER?: string | undefined;
  WARDEN_REDIS_PASSWORD_FILE?: string | undefined;
}): { username?: string; password?: string } {
  const file = config.WARDEN_REDIS_PASSWORD_FILE;
  let password: string | undefined;
  if (file) {
    try {
      password = readFileSync(file, 'utf8').trim();
    } catch (cause) {
      throw new RedisCredentialsError(file, cause);
    }
  }
  return {
    ...(config.WARDEN_REDIS_USER ? { username: config.WARDEN_REDIS_USER } : {}),
    ...(password ? { password } : {}),
  };
}
