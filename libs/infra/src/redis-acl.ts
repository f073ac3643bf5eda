/**
 * Redis users, one per service that uses Redis, each limited to its own key prefix and to the
 * commands it sends (ARCHITECTURE §7): no FLUSHALL, CONFIG, KEYS, DEBUG or MODULE for anyone but
 * `admin`, and the default (unauthenticated) user off. Passwords are generated once into the
 * credentials folder (0600, beside the NATS seeds); the server's ACL file holds their SHA-256 only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readOrCreateSecret } from './credentials.ts';

/**
 * Commands ioredis sends on every connection (its ready check; its CLIENT SETINFO may fail; ROLE,
 * when it reached the server through Sentinel, to be sure it is the primary), and scripts.
 */
const CONNECTION = ['ping', 'info', 'role', 'quit', 'eval', 'evalsha', 'multi', 'exec', 'discard'];

type RedisGrant = { keys: readonly string[]; commands: readonly string[] };

/** What each Redis user may touch. */
export const redisUsers = {
  /** Join tokens and the issued index (services/ca). */
  ca: {
    keys: ['warden:ca:*'],
    commands: [
      ...CONNECTION,
      'get',
      'set',
      'mget',
      'exists',
      'del',
      'hget',
      'hgetall',
      'hmget',
      'hset',
      'hsetnx',
      'sadd',
      'smembers',
      'srem',
      'pexpireat',
      'zadd',
      'zrangebyscore',
      'zremrangebyscore',
    ],
  },
  /** The call graph (services/topology). */
  topology: {
    keys: ['warden:topology:*'],
    commands: [
      ...CONNECTION,
      'get',
      'set',
      'del',
      'exists',
      'hget',
      'hgetall',
      'hset',
      'hincrby',
      'hlen',
      'hexists',
      'hmget',
      'zadd',
      'zmscore',
      'zrange',
      'zrangebyscore',
      'zremrangebyscore',
      'expire',
      'pexpire',
      'pexpireat',
      'pttl',
    ],
  },
} as const satisfies Record<string, RedisGrant>;

export type RedisUser = keyof typeof redisUsers | 'admin';
export const redisUserNames: readonly RedisUser[] = [...(Object.keys(redisUsers) as RedisUser[]), 'admin'];

export const redisPasswordFile = (dir: string, user: RedisUser): string => join(dir, `redis-${user}.pass`);

/** Reads every Redis user's password from `dir`, creating the missing ones (files 0600). */
export function ensureRedisCredentials(dir: string): Map<RedisUser, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const passwords = new Map<RedisUser, string>();
  for (const user of redisUserNames)
    passwords.set(
      user,
      readOrCreateSecret(redisPasswordFile(dir, user), () => randomBytes(32).toString('base64url')),
    );
  return passwords;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const hashedPassword = (passwords: ReadonlyMap<RedisUser, string>, user: RedisUser): string => {
  const p = passwords.get(user);
  if (!p) throw new Error(`no Redis password for ${user}`);
  return `#${sha256(p)}`;
};

/**
 * The `user` lines of a Sentinel's configuration: the default user off; each service may only
 * ask where the primary is and who the other Sentinels are; `admin` (which the Sentinels also
 * use between themselves and towards Redis) may do everything.
 */
export function sentinelAclLines(passwords: ReadonlyMap<RedisUser, string>): string[] {
  const lines = ['user default off resetkeys resetchannels -@all'];
  for (const user of Object.keys(redisUsers) as RedisUser[])
    lines.push(
      [
        `user ${user} on ${hashedPassword(passwords, user)} resetkeys resetchannels -@all`,
        '+auth +hello +ping +client|setname',
        '+sentinel|get-master-addr-by-name +sentinel|sentinels',
      ].join(' '),
    );
  lines.push(`user admin on ${hashedPassword(passwords, 'admin')} ~* &* +@all`);
  return lines;
}

/** The ACL file for redis-server's `--aclfile`: the default user off, one line per user. */
export function redisAclFile(passwords: ReadonlyMap<RedisUser, string>): string {
  const password = (user: RedisUser): string => hashedPassword(passwords, user);
  const lines = ['user default off resetkeys resetchannels -@all'];
  for (const [user, grant] of Object.entries(redisUsers) as [RedisUser, RedisGrant][])
    lines.push(
      [
        `user ${user} on ${password(user)} resetkeys resetchannels -@all`,
        ...grant.keys.map((k) => `~${k}`),
        ...grant.commands.map((c) => `+${c}`),
      ].join(' '),
    );
  lines.push(`user admin on ${password('admin')} ~* &* +@all`);
  return `${lines.join('\n')}\n`;
}
