import { createHash, randomBytes } from 'node:crypto';
import { isWrongLastSequence } from '@warden/events';
import type { KV } from '@nats-io/kv';
import { messageOf } from '@warden/core';
import type { Redis } from 'ioredis';
import { IndexUnavailableError, TokenExpiredError, TokenInvalidError, TokenUsedError } from './errors.ts';
import { guarded } from './redis.ts';

/**
 * Single-use join tokens bound to one SPIFFE ID (ARCHITECTURE §3). Redis keeps only the token's SHA-256,
 * so a copy of Redis does not hand out identities. Creation is `SET NX` (never overwrites). Use is
 * recorded twice: first in the JetStream KV bucket `warden-join-tokens` with a create that fails
 * if the key exists (the durable arbiter: of two concurrent uses exactly one wins, and neither a
 * Redis flush nor a deleted marker makes a spent token usable again), then as a "used" key in
 * Redis, which `peek` reads to refuse a spent token early. The records outlive the token by a day
 * so an expired token is reported as expired, not unknown.
 */
const tokenKey = (hash: string): string => `warden:ca:token:${hash}`;
const usedKey = (hash: string): string => `warden:ca:token-used:${hash}`;
const GRACE_MS = 86_400_000;
export const TOKEN_PREFIX = 'wjt_';

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex');

export type TokenBinding = { spiffeId: string; expiresAt: string };

export class JoinTokens {
  private readonly redis: Redis;
  private readonly used: KV;
  constructor(redis: Redis, used: KV) {
    this.redis = redis;
    this.used = used;
  }

  async create(spiffeId: string, ttlSeconds: number): Promise<{ token: string; expiresAt: string }> {
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000).toISOString();
    const binding: TokenBinding = { spiffeId, expiresAt };
    const ok = await guarded(() =>
      this.redis.set(
        tokenKey(hashOf(token)),
        JSON.stringify(binding),
        'PX',
        ttlSeconds * 1000 + GRACE_MS,
        'NX',
      ),
    );
    // 256 random bits do not collide; if SET NX says otherwise, something is wrong: refuse.
    if (ok !== 'OK') throw new IndexUnavailableError('join token could not be stored');
    return { token, expiresAt };
  }

  /** The token's binding if it is known, unexpired and unused; nothing is changed. */
  async peek(token: string): Promise<TokenBinding> {
    const hash = hashOf(token);
    // One command for both: a round trip and a reply parse less on every enrolment.
    const [raw, used] = await guarded(() => this.redis.mget(tokenKey(hash), usedKey(hash)));
    if (raw === null || raw === undefined) throw new TokenInvalidError();
    let binding: TokenBinding;
    try {
      binding = JSON.parse(raw) as TokenBinding;
    } catch {
      throw new TokenInvalidError();
    }
    if (used !== null && used !== undefined) throw new TokenUsedError();
    if (Date.parse(binding.expiresAt) <= Date.now()) throw new TokenExpiredError(binding.expiresAt);
    return binding;
  }

  /**
   * Marks the token used, atomically and durably; throws `TokenUsedError` if any use got there
   * first, and `IndexUnavailableError` (refusing) when the record cannot be written.
   */
  async claim(token: string, binding: TokenBinding): Promise<void> {
    const hash = hashOf(token);
    const at = new Date().toISOString();
    try {
      await this.used.create(hash, at);
    } catch (cause) {
      if (isWrongLastSequence(cause)) throw new TokenUsedError();
      throw new IndexUnavailableError(`join token use could not be recorded: ${messageOf(cause)}`, { cause });
    }
    const ttl = Math.max(1000, Date.parse(binding.expiresAt) - Date.now() + GRACE_MS);
    const ok = await guarded(() => this.redis.set(usedKey(hash), at, 'PX', ttl, 'NX'));
    if (ok !== 'OK') throw new TokenUsedError();
  }
}
