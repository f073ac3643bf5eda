import { messageOf } from '@warden/core';
import { createRedis, redisTarget } from '@warden/runtime';
import type { Logger, RedisConnectionConfig } from '@warden/runtime';
import type { Redis } from 'ioredis';
import { CaError, IndexUnavailableError } from './errors.ts';

/**
 * Connects to the Redis of join tokens and the issued index (one server, or the primary the
 * Sentinels name). No offline queue: while Redis is away a command fails at once and the CA
 * refuses, not waits.
 */
export async function connectRedis(config: RedisConnectionConfig, log: Logger): Promise<Redis> {
  const redis = createRedis(config, {
    // Commands issued in one tick go out in one write: under load, many issuances share a syscall.
    enableAutoPipelining: true,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
  });
  redis.on('error', (err: unknown) => log.warn({ err }, 'redis error'));
  try {
    await redis.connect();
  } catch (cause) {
    redis.disconnect();
    throw new CaError('redis_unavailable', `cannot reach Redis at ${redisTarget(config)}`, { cause });
  }
  return redis;
}

/** Redis errors become one class the CA answers with, instead of whatever the client threw. */
export async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (cause) {
    throw new IndexUnavailableError(messageOf(cause), { cause });
  }
}
