import type { KV, KvEntry } from '@nats-io/kv';
import { Kvm, KvWatchInclude } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { BucketName } from '@warden/events';
import type { AuthzRequest } from '@warden/policy-engine';
import type { Logger } from '@warden/runtime';
import type { ContainmentRule } from './containment.ts';
import { peersOf, ruleKey, ruleMatches } from './containment.ts';

const isRule = (value: unknown): value is ContainmentRule => {
  const rule = value as Partial<ContainmentRule> | null;
  return (
    typeof rule === 'object' &&
    rule !== null &&
    typeof rule.id === 'string' &&
    (rule.kind === 'deny' || rule.kind === 'quarantine') &&
    typeof rule.expiresAt === 'string' &&
    !Number.isNaN(Date.parse(rule.expiresAt))
  );
};

/**
 * The containment rules in force, shared by every enforcer replica through the
 * `warden-containment` bucket: each replica watches it, so a rule one replica stores is enforced
 * by all, and a restarted replica reads them back. Expired rules are ignored at once and removed
 * from the bucket by the next sweep.
 */
export class ContainmentStore {
  private readonly rules = new Map<string, ContainmentRule>();
  private stopWatch: (() => void) | undefined;
  private changes = 0;
  private readonly kv: KV;
  private readonly log: Logger;

  private constructor(kv: KV, log: Logger) {
    this.kv = kv;
    this.log = log;
  }

  static async open(nc: NatsConnection, log: Logger): Promise<ContainmentStore> {
    const store = new ContainmentStore(await new Kvm(nc).open(BucketName.containment), log);
    await store.load();
    return store;
  }

  /** Watches changes first, then reads what is there, so nothing written in between is missed. */
  private async load(): Promise<void> {
    const watch = await this.kv.watch({ key: 'rule.>', include: KvWatchInclude.UpdatesOnly });
    this.stopWatch = () => watch.stop();
    void (async () => {
      for await (const entry of watch) this.apply(entry);
    })();
    for await (const key of await this.kv.keys('rule.>')) {
      const entry = await this.kv.get(key);
      if (entry) this.apply(entry);
    }
  }

  /** Grows with every change seen, so a reader can tell whether to rebuild what it derived. */
  get version(): number {
    return this.changes;
  }

  private apply(entry: KvEntry): void {
    this.changes++;
    if (entry.operation !== 'PUT') {
      this.rules.delete(entry.key);
      return;
    }
    let value: unknown;
    try {
      value = entry.json();
    } catch {
      value = null;
    }
    if (!isRule(value)) {
      this.log.warn({ key: entry.key }, 'ignored a containment entry that is not a rule');
      return;
    }
    this.rules.set(entry.key, value);
  }

  /** The first unexpired rule that stops this request. */
  match(request: AuthzRequest, now: Date): ContainmentRule | undefined {
    const peers = peersOf(request);
    for (const rule of this.rules.values()) if (ruleMatches(rule, peers, now)) return rule;
    return undefined;
  }

  async put(rule: ContainmentRule): Promise<void> {
    await this.kv.put(ruleKey(rule.id), JSON.stringify(rule));
  }

  /** Lifts a rule by its id; false when no such rule is in force. */
  async release(id: string): Promise<boolean> {
    const key = ruleKey(id);
    if (!this.rules.has(key)) return false;
    await this.kv.delete(key);
    return true;
  }

  /** Rules in force at `now`, soonest to expire first. */
  active(now: Date): ContainmentRule[] {
    return [...this.rules.values()]
      .filter((r) => Date.parse(r.expiresAt) > now.getTime())
      .sort((a, b) => a.expiresAt.localeCompare(b.expiresAt));
  }

  /** Removes expired rules from the bucket (any replica may; deleting twice is harmless). */
  async sweep(now: Date): Promise<number> {
    let removed = 0;
    for (const [key, rule] of this.rules) {
      if (Date.parse(rule.expiresAt) > now.getTime()) continue;
      await this.kv
        .delete(key)
        .catch((err: unknown) => this.log.warn({ err, key }, 'could not remove an expired rule'));
      removed++;
    }
    return removed;
  }

  stop(): void {
    this.stopWatch?.();
  }
}
