import { messageOf } from '@warden/core';
import type { Logger } from '@warden/runtime';
import { Redis } from 'ioredis';
import { CaError, IndexUnavailableError } from './errors.ts';

function redisHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * Connects to the Redis of join tokens and the issued index. No offline queue: while Redis is
 * away a command fails at once and the CA refuses, not waits.
 */
export async function connectRedis(
  url: string,
  auth: { username?: string; password?: string },
  log: Logger,
): Promise<Redis> {
  const redis = new Redis(url, {
    ...auth,
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
    // The host only: the URL may carry a password.
    throw new CaError('redis_unavailable', `cannot reach Redis at ${redisHost(url)}`, { cause });
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
