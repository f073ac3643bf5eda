import type { Workload } from './model.ts';
import { qualifiedKey, spiffeIdOf } from './model.ts';
import type { SourceSink } from './source.ts';
import { address, dnsName, labels } from './validation.ts';
import { z } from 'zod';

/** What `warden.topology.v1.register` carries (the bus has already checked it against the catalogue). */
export type Registration = {
  namespace: string;
  workload: string;
  address: string;
  port: number;
  protocol: 'http' | 'grpc' | 'tcp';
  serviceAccount: string;
  labels: Record<string, string>;
};

/**
 * Rules beyond the catalogue's: the workload name must be one subject token (its heartbeats are
 * addressed `heartbeat.<ns>.<workload>`), the service account one SPIFFE path segment.
 */
const registrationRules = z.object({
  workload: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,128}$/, 'one subject token (letters, digits, _ or -), at most 128'),
  serviceAccount: dnsName,
  address,
  labels,
});

export type RegistrationTableOptions = {
  sink: SourceSink;
  trustDomain: string;
  /** Interval assumed until a workload's first heartbeat says its own. */
  defaultIntervalMs: number;
  /** Heartbeat intervals that may pass without one before a workload expires. */
  missedBeats: number;
  /** Deregistrations remembered, so a replayed older registration cannot resurrect a workload. */
  maxTombstones?: number;
  /** Registered workloads held at most; any credential holder can register, so memory is bounded. */
  maxEntries?: number;
};

type Entry = { workload: Workload; at: number; lastBeat: number; intervalMs: number };

export type RegisterOutcome = 'applied' | 'stale' | { rejected: string[] };

/**
 * Registered workloads, their heartbeats and their expiry, without any I/O (the clock is passed
 * in), so the rules are tested directly. Register and deregister arrive through two consumers
 * that may interleave differently from the stream on a replay, so every event applies only if it
 * is newer (by event time) than what the table last applied for that workload.
 */
export class RegistrationTable {
  private readonly entries = new Map<string, Entry>();
  private readonly tombstones = new Map<string, number>();
  /** Per namespace, how many registered workloads use each service account. */
  private readonly accounts = new Map<string, Map<string, number>>();
  private readonly options: RegistrationTableOptions;

  constructor(options: RegistrationTableOptions) {
    this.options = options;
  }

  get size(): number {
    return this.entries.size;
  }

  register(data: Registration, eventTime: number, now: number): RegisterOutcome {
    const checked = registrationRules.safeParse(data);
    if (!checked.success)
      return { rejected: checked.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) };
    const key = qualifiedKey(data.namespace, data.workload);
    if (this.isStale(key, eventTime)) return 'stale';
    const previous = this.entries.get(key);
    if (!previous && this.entries.size >= (this.options.maxEntries ?? 100_000))
      return {
        rejected: [`the registry holds its limit of ${this.options.maxEntries ?? 100_000} registrations`],
      };
    this.tombstones.delete(key);
    const workload: Workload = {
      namespace: data.namespace,
      name: data.workload,
      address: data.address,
      port: data.port,
      protocol: data.protocol,
      labels: data.labels,
      serviceAccount: data.serviceAccount,
      spiffeId: spiffeIdOf(this.options.trustDomain, data.namespace, data.serviceAccount),
      services: [],
    };
    // Registration counts as a first beat; a replay after a restart thus gives every workload
    // one full expiry window to show it is still alive.
    this.entries.set(key, {
      workload,
      at: eventTime,
      lastBeat: now,
      intervalMs: previous?.intervalMs ?? this.options.defaultIntervalMs,
    });
    if (previous) this.countAccount(previous.workload.namespace, previous.workload.serviceAccount, -1);
    this.countAccount(data.namespace, data.serviceAccount, 1);
    this.options.sink.upsert('workload', workload);
    this.refreshNamespace(data.namespace);
    return 'applied';
  }

  deregister(namespace: string, name: string, eventTime: number): 'applied' | 'stale' | 'unknown' {
    const key = qualifiedKey(namespace, name);
    if (this.isStale(key, eventTime)) return 'stale';
    this.tombstone(key, eventTime);
    return this.drop(key) ? 'applied' : 'unknown';
  }

  /** Records a heartbeat; false when the workload is not registered (it should register first). */
  heartbeat(namespace: string, name: string, intervalSeconds: number, now: number): boolean {
    const entry = this.entries.get(qualifiedKey(namespace, name));
    if (!entry) return false;
    entry.lastBeat = now;
    entry.intervalMs = intervalSeconds * 1000;
    return true;
  }

  /** Removes every workload that missed `missedBeats` intervals; returns their keys. */
  expire(now: number): string[] {
    const expired: string[] = [];
    for (const [key, entry] of this.entries) {
      if (now - entry.lastBeat > entry.intervalMs * this.options.missedBeats) expired.push(key);
    }
    for (const key of expired) this.drop(key);
    return expired;
  }

  private isStale(key: string, eventTime: number): boolean {
    const current = this.entries.get(key)?.at ?? this.tombstones.get(key);
    return current !== undefined && eventTime < current;
  }

  private tombstone(key: string, eventTime: number): void {
    this.tombstones.delete(key);
    this.tombstones.set(key, eventTime);
    const max = this.options.maxTombstones ?? 100_000;
    // Oldest first: Map iteration follows insertion order.
    for (const oldest of this.tombstones.keys()) {
      if (this.tombstones.size <= max) break;
      this.tombstones.delete(oldest);
    }
  }

  private drop(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.countAccount(entry.workload.namespace, entry.workload.serviceAccount, -1);
    this.options.sink.remove('workload', key);
    this.refreshNamespace(entry.workload.namespace);
    return true;
  }

  private countAccount(namespace: string, account: string, delta: number): void {
    let counts = this.accounts.get(namespace);
    if (!counts) this.accounts.set(namespace, (counts = new Map()));
    const n = (counts.get(account) ?? 0) + delta;
    if (n > 0) counts.set(account, n);
    else counts.delete(account);
    if (counts.size === 0) this.accounts.delete(namespace);
  }

  /** A namespace exists in this layer while a registered workload lives in it. */
  private refreshNamespace(namespace: string): void {
    const counts = this.accounts.get(namespace);
    if (!counts) {
      this.options.sink.remove('namespace', namespace);
      return;
    }
    this.options.sink.upsert('namespace', {
      name: namespace,
      labels: {},
      serviceAccounts: [...counts.keys()].sort(),
    });
  }
}
