/**
 * How a service reaches Redis: one server by URL, or the primary that Redis Sentinel names
 * (WARDEN_REDIS_SENTINELS, ARCHITECTURE §6). Credentials are an ACL user and a password file
 * (0600, written by the stack's set-up like the NATS seeds), so no password sits in the
 * environment or in a URL in the logs; the same user and password log in to the Sentinels.
 */
import { readFileSync } from 'node:fs';
import { WardenError } from '@warden/core';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { z } from 'zod';

export type HostPort = { host: string; port: number };

const HOST_PORT = /^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:]{2,39}\]):(\d{1,5})$/;

/**
 * `host:port,host:port` into its addresses. Throws on an empty entry, a missing or
 * out-of-range port, or a repeated address, naming the entry.
 */
export function parseHostPorts(text: string): HostPort[] {
  const seen = new Set<string>();
  return text.split(',').map((raw) => {
    const entry = raw.trim();
    const match = HOST_PORT.exec(entry);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) throw new Error(`"${entry}" is not host:port`);
    if (seen.has(entry)) throw new Error(`"${entry}" is listed twice`);
    seen.add(entry);
    return { host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port };
  });
}

const hostPortList = z.string().transform((text, ctx) => {
  try {
    return parseHostPorts(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `a comma-separated host:port list: ${(err as Error).message}` });
    return z.NEVER;
  }
});

export const redisAuthConfigShape = {
  /** This service's Redis ACL user; unset connects as the default user (a Redis without ACLs). */
  WARDEN_REDIS_USER: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,63}$/, 'a Redis user name')
    .optional(),
  /** The file holding that user's password. */
  WARDEN_REDIS_PASSWORD_FILE: z.string().min(1).optional(),
  /** Redis Sentinels (`host:port,...`); set, they name the primary and WARDEN_REDIS_URL is not used. */
  WARDEN_REDIS_SENTINELS: hostPortList.optional(),
  /** The primary's name the Sentinels monitor. */
  WARDEN_REDIS_MASTER_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ., _ or -, at most 64')
    .default('warden'),
};

export type RedisConnectionConfig = {
  WARDEN_REDIS_URL: string;
  WARDEN_REDIS_USER?: string | undefined;
  WARDEN_REDIS_PASSWORD_FILE?: string | undefined;
  WARDEN_REDIS_SENTINELS?: readonly HostPort[] | undefined;
  WARDEN_REDIS_MASTER_NAME: string;
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

/**
 * Where the client connects and as whom: the URL's server, or through the Sentinels to the
 * primary they name, with `role` checked after each connection so that a demoted primary is
 * left for the promoted one. The ACL user logs in to both the Sentinels and Redis.
 */
export function redisConnectionOptions(config: RedisConnectionConfig): RedisOptions {
  const auth = redisAuth(config);
  const sentinels = config.WARDEN_REDIS_SENTINELS;
  if (!sentinels) return auth;
  return {
    ...auth,
    sentinels: sentinels.map((s) => ({ ...s })),
    name: config.WARDEN_REDIS_MASTER_NAME,
    role: 'master',
    ...(auth.username ? { sentinelUsername: auth.username } : {}),
    ...(auth.password ? { sentinelPassword: auth.password } : {}),
    // A write that reaches the old primary after failover answers READONLY: reconnect to the new one.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
}

/** A client for this configuration; `options` (timeouts, queueing) are the caller's own. */
export function createRedis(config: RedisConnectionConfig, options: RedisOptions = {}): Redis {
  const connection = redisConnectionOptions(config);
  return config.WARDEN_REDIS_SENTINELS
    ? new Redis({ ...options, ...connection })
    : new Redis(config.WARDEN_REDIS_URL, { ...options, ...connection });
}

/** Where a client connects, for logs and errors: never the URL, which may carry a password. */
export function redisTarget(config: RedisConnectionConfig): string {
  if (config.WARDEN_REDIS_SENTINELS)
    return `${config.WARDEN_REDIS_MASTER_NAME} via sentinels ${config.WARDEN_REDIS_SENTINELS.map((s) => `${s.host}:${s.port}`).join(',')}`;
  try {
    return new URL(config.WARDEN_REDIS_URL).host;
  } catch {
    return '(unparsable URL)';
  }
}
