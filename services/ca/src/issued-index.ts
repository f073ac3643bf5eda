import type { Redis } from 'ioredis';
import { guarded } from './redis.ts';

/**
 * The index of issued certificates in Redis (ARCHITECTURE §2): serial → SPIFFE ID, expiry, revoked.
 * It is never the only copy: every issuance and revocation is first an event on WARDEN_IDENTITY,
 * and `replay.ts` rebuilds the index from the stream when the completeness marker is gone.
 *
 *   warden:ca:serial:<serial>   hash { spiffeId, notAfter, revoked: '0' | '1', reason }
 *                               expires one hour after the certificate does
 *   warden:ca:id:<spiffeId>     set of serials (expired members pruned on read)
 *   warden:ca:revoked           sorted set of revoked serials by expiry (the CRL's entries)
 *   warden:ca:index:complete    present once the index holds every event of the stream
 */
const serialKey = (serial: string): string => `warden:ca:serial:${serial}`;
const idKey = (spiffeId: string): string => `warden:ca:id:${spiffeId}`;
export const COMPLETE_KEY = 'warden:ca:index:complete';
const KEEP_AFTER_EXPIRY_MS = 3_600_000;
const REVOKED_KEY = 'warden:ca:revoked';
/** How long a revoked serial of unknown expiry stays on the CRL: longer than any SVID lives. */
const UNKNOWN_EXPIRY_MS = 30 * 86_400_000;

export type IndexEntry = { serial: string; spiffeId: string; notAfter: Date; revoked: boolean };

/**
 * One issuance's writes as one script: a single command per SVID instead of a MULTI of four,
 * which at thousands of SVIDs a second is a measurable share of the CA's CPU. Keeps the MULTI's
 * guarantees: all or nothing, and never clears a revocation (HSETNX).
 */
const RECORD_ISSUED = `
redis.call('HSET', KEYS[1], 'spiffeId', ARGV[1], 'notAfter', ARGV[2])
redis.call('HSETNX', KEYS[1], 'revoked', '0')
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1`;

type IndexRedis = Redis & {
  wardenRecordIssued(
    serialKey: string,
    idKey: string,
    spiffeId: string,
    notAfter: string,
    expireAt: number,
    serial: string,
  ): Promise<unknown>;
};

export class IssuedIndex {
  private readonly redis: IndexRedis;
  constructor(redis: Redis) {
    // ioredis sends EVALSHA and falls back to EVAL once when the server does not know it yet.
    redis.defineCommand('wardenRecordIssued', { numberOfKeys: 2, lua: RECORD_ISSUED });
    this.redis = redis as IndexRedis;
  }

  /** Idempotent, and never clears a revocation: replaying an old issuance after its revocation is harmless. */
  async recordIssued(entry: { serial: string; spiffeId: string; notAfter: string }): Promise<void> {
    const expireAt = Date.parse(entry.notAfter) + KEEP_AFTER_EXPIRY_MS;
    if (expireAt <= Date.now()) return;
    await guarded(() =>
      this.redis.wardenRecordIssued(
        serialKey(entry.serial),
        idKey(entry.spiffeId),
        entry.spiffeId,
        entry.notAfter,
        expireAt,
        entry.serial,
      ),
    );
  }

  /**
   * Marks serials revoked and lists them for the CRL until they expire. `revokedAt` is when the
   * CA revoked them (on a rebuild, the time of the `identity.revoked` event).
   */
  async markRevoked(serials: readonly string[], reason: string, revokedAt: string): Promise<void> {
    if (serials.length === 0) return;
    const notAfters = await guarded(() =>
      Promise.all(serials.map((s) => this.redis.hget(serialKey(s), 'notAfter'))),
    );
    const tx = this.redis.multi();
    for (const [i, serial] of serials.entries()) {
      // A revocation of a serial the index does not know yet (replay order, or not ours) is kept
      // anyway: fail closed if its issuance shows up later. It stays on the CRL for the longest
      // lifetime an SVID can have, since its real expiry is unknown.
      const notAfter = Date.parse(notAfters[i] ?? '') || Date.now() + UNKNOWN_EXPIRY_MS;
      tx.hset(serialKey(serial), 'revoked', '1', 'reason', reason, 'revokedAt', revokedAt);
      tx.zadd(REVOKED_KEY, notAfter, serial);
    }
    await guarded(() => tx.exec());
  }

  /** Revoked serials not yet expired, with their revocation time: the CRL's entries. */
  async revokedEntries(): Promise<{ serial: string; revokedAt: Date }[]> {
    const now = Date.now();
    await guarded(() => this.redis.zremrangebyscore(REVOKED_KEY, '-inf', now));
    const serials = await guarded(() => this.redis.zrangebyscore(REVOKED_KEY, now, '+inf'));
    const times = await guarded(() =>
      Promise.all(serials.map((s) => this.redis.hget(serialKey(s), 'revokedAt'))),
    );
    return serials.map((serial, i) => ({ serial, revokedAt: new Date(times[i] ?? now) }));
  }

  async get(serial: string): Promise<IndexEntry | null> {
    const fields = await guarded(() => this.redis.hgetall(serialKey(serial)));
    if (!fields['spiffeId'] || !fields['notAfter']) return null;
    return {
      serial,
      spiffeId: fields['spiffeId'],
      notAfter: new Date(fields['notAfter']),
      revoked: fields['revoked'] === '1',
    };
  }

  /** Serials of an identity's certificates that have not expired (revoked or not). */
  async serialsOf(spiffeId: string): Promise<string[]> {
    const serials = await guarded(() => this.redis.smembers(idKey(spiffeId)));
    const live: string[] = [];
    for (const serial of serials) {
      if (await guarded(() => this.redis.exists(serialKey(serial)))) live.push(serial);
      else await guarded(() => this.redis.srem(idKey(spiffeId), serial));
    }
    return live;
  }

  async isComplete(): Promise<boolean> {
    return (await guarded(() => this.redis.exists(COMPLETE_KEY))) === 1;
  }

  async markComplete(streamSequence: number): Promise<void> {
    await guarded(() =>
      this.redis.set(COMPLETE_KEY, JSON.stringify({ at: new Date().toISOString(), streamSequence })),
    );
  }
}
