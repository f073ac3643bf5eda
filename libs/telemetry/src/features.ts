import type { AccessRecord, Endpoint } from './record.ts';
import { qualifierOf } from './record.ts';

/**
 * Windowed features (ARCHITECTURE §6): tumbling windows of 1 s and 10 s, per workload and per edge
 * (source → destination), from access records, decision records and aggregate counters.
 *
 * Per workload, over the calls it received: `requests`, `status_4xx`, `status_5xx`,
 * `auth_failures` (401 and 403), `error_rate` (5xx share), `latency_p50_ms`, `latency_p99_ms`,
 * `bytes_in`, `bytes_out`, `distinct_peers`, `distinct_paths`, `distinct_ports`, `denies`; over the
 * calls it made, the same prefixed `out_` for the counts that reveal a scan or an exfiltration
 * (`out_requests`, `out_status_4xx`, `out_status_5xx`, `out_auth_failures`, `out_bytes_in`,
 * `out_bytes_out`, `out_distinct_peers`, `out_distinct_ports`, `out_denies`). Per edge, the received-side set. Latencies come from a bounded reservoir,
 * distinct counts from bounded sets (they saturate at the bound).
 */

/**
 * The feature names on the bus (`warden.telemetry.v1.features`): the one list every producer and
 * reader uses (`@warden/anomaly`'s `Feature` maps onto it). Per workload, the calls it received;
 * the calls it made carry the same names behind `OUTBOUND_PREFIX`.
 */
export const FeatureName = {
  requests: 'requests',
  status4xx: 'status_4xx',
  status5xx: 'status_5xx',
  /** 401 and 403 answers: credentials refused. */
  authFailures: 'auth_failures',
  /** 5xx / requests, 0 without requests. */
  errorRate: 'error_rate',
  latencyP50Ms: 'latency_p50_ms',
  latencyP99Ms: 'latency_p99_ms',
  bytesIn: 'bytes_in',
  bytesOut: 'bytes_out',
  distinctPeers: 'distinct_peers',
  distinctPaths: 'distinct_paths',
  distinctPorts: 'distinct_ports',
  /** Calls the decision point denied. */
  denies: 'denies',
} as const;
export type FeatureName = (typeof FeatureName)[keyof typeof FeatureName];

/** A workload's features about the calls it made: `out_requests`, `out_distinct_ports`, ... */
export const OUTBOUND_PREFIX = 'out_';

/**
 * A workload window's outbound features under the inbound names, so one rule (a scan, an
 * exfiltration) reads either direction: `out_distinct_ports` becomes `distinct_ports`, and
 * `out_bytes_out` (what the workload sent in its requests) becomes `bytes_out`.
 */
export function outboundView(features: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(features))
    if (name.startsWith(OUTBOUND_PREFIX)) out[name.slice(OUTBOUND_PREFIX.length)] = value;
  return out;
}

/** A workload window's features about the calls it received (everything but the outbound ones). */
export function inboundView(features: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(features))
    if (!name.startsWith(OUTBOUND_PREFIX)) out[name] = value;
  return out;
}

export type FeatureScope = 'workload' | 'edge';

export type WorkloadName = { namespace: string; workload: string };

export type FeatureWindow = {
  scope: FeatureScope;
  /** The workload the features describe: for an edge, its destination. */
  target: WorkloadName;
  /** An edge's source. */
  peer?: WorkloadName;
  windowSeconds: number;
  windowStart: string;
  windowEnd: string;
  features: Record<string, number>;
};

/** A per-window aggregate from a sidecar (Warden's `StreamTelemetry` counters). */
export type CounterSample = {
  timeMs: number;
  source: WorkloadName;
  destination: WorkloadName;
  requests: number;
  status4xx: number;
  status5xx: number;
  bytesIn: number;
  bytesOut: number;
  /** The window's mean response time, when the sender knows it. */
  meanDurationMs?: number;
};

export type WindowOptions = {
  /** Window lengths; 1 s and 10 s by default. */
  windowsMs?: readonly number[];
  /** How long after its end a window still takes late records before it is closed. */
  graceMs?: number;
  /** Open accumulators at most (windows × workloads × edges); past it new keys are refused. */
  maxOpen?: number;
  /** Latency samples kept per accumulator. */
  maxSamples?: number;
  /** Members of each distinct-count set at most. */
  maxDistinct?: number;
};

export type AddOutcome = { accepted: number; late: number; overflow: number };

class Reservoir {
  readonly values: number[] = [];
  private seen = 0;
  private state = 0x9e3779b9;
  private readonly cap: number;
  constructor(cap: number) {
    this.cap = cap;
  }
  add(value: number): void {
    this.seen++;
    if (this.values.length < this.cap) {
      this.values.push(value);
      return;
    }
    // Deterministic (xorshift) so a replay computes the same features.
    this.state ^= this.state << 13;
    this.state ^= this.state >>> 17;
    this.state ^= this.state << 5;
    const slot = (this.state >>> 0) % this.seen;
    if (slot < this.cap) this.values[slot] = value;
  }
}

const quantile = (sorted: number[], q: number): number =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0);

class Accumulator {
  requests = 0;
  status4xx = 0;
  status5xx = 0;
  authFailures = 0;
  denies = 0;
  bytesIn = 0;
  bytesOut = 0;
  outRequests = 0;
  out4xx = 0;
  out5xx = 0;
  outAuthFailures = 0;
  outBytesIn = 0;
  outBytesOut = 0;
  outDenies = 0;
  readonly latencies: Reservoir;
  readonly peers = new Set<string>();
  readonly paths = new Set<string>();
  readonly ports = new Set<number>();
  readonly outPeers = new Set<string>();
  readonly outPorts = new Set<string>();
  private readonly maxDistinct: number;
  constructor(maxSamples: number, maxDistinct: number) {
    this.latencies = new Reservoir(maxSamples);
    this.maxDistinct = maxDistinct;
  }
  remember<T>(set: Set<T>, value: T | undefined): void {
    if (value !== undefined && set.size < this.maxDistinct) set.add(value);
  }
  features(scope: FeatureScope): Record<string, number> {
    const sorted = [...this.latencies.values].sort((a, b) => a - b);
    const F = FeatureName;
    const O = OUTBOUND_PREFIX;
    const inbound: Record<string, number> = {
      [F.requests]: this.requests,
      [F.status4xx]: this.status4xx,
      [F.status5xx]: this.status5xx,
      [F.authFailures]: this.authFailures,
      [F.errorRate]: this.requests > 0 ? this.status5xx / this.requests : 0,
      [F.latencyP50Ms]: quantile(sorted, 0.5),
      [F.latencyP99Ms]: quantile(sorted, 0.99),
      [F.bytesIn]: this.bytesIn,
      [F.bytesOut]: this.bytesOut,
      [F.distinctPeers]: this.peers.size,
      [F.distinctPaths]: this.paths.size,
      [F.distinctPorts]: this.ports.size,
      [F.denies]: this.denies,
    };
    if (scope === 'edge') return inbound;
    return {
      ...inbound,
      [O + F.requests]: this.outRequests,
      [O + F.status4xx]: this.out4xx,
      [O + F.status5xx]: this.out5xx,
      [O + F.authFailures]: this.outAuthFailures,
      [O + F.bytesIn]: this.outBytesIn,
      [O + F.bytesOut]: this.outBytesOut,
      [O + F.distinctPeers]: this.outPeers.size,
      [O + F.distinctPorts]: this.outPorts.size,
      [O + F.denies]: this.outDenies,
    };
  }
}

const nameOf = (e: Endpoint): WorkloadName => ({
  namespace: qualifierOf(e.namespace),
  workload: qualifierOf(e.workload),
});

/** Who a peer is, for distinct counts: the most specific name the record has. */
const peerId = (e: Endpoint): string | undefined =>
  e.principal ?? (e.workload ? `${e.namespace ?? ''}/${e.workload}` : e.address);

type Open = {
  scope: FeatureScope;
  target: WorkloadName;
  peer?: WorkloadName;
  sizeMs: number;
  start: number;
  acc: Accumulator;
};

/** A window's key: its length and start (`windowPrefix`), scope, target and, for an edge, the peer. */
const keyOf = (prefix: string, scope: FeatureScope, target: string, peer: string): string =>
  `${prefix}${scope}|${target}|${peer}`;

const windowPrefix = (sizeMs: number, start: number): string => `${sizeMs}|${start}|`;

const nameKey = (name: WorkloadName): string => `${name.namespace}/${name.workload}`;

type LastRun = {
  start: number;
  target: WorkloadName;
  peer: WorkloadName;
  source: WorkloadName;
  inbound: Accumulator;
  edge: Accumulator;
  outbound: Accumulator;
};

const sameName = (a: WorkloadName, b: WorkloadName): boolean =>
  a.namespace === b.namespace && a.workload === b.workload;

export class FeatureWindows {
  private readonly open = new Map<string, Open>();
  /** Per window length, the end of the newest window already closed: older records are late. */
  private readonly closedUntil = new Map<number, number>();
  private readonly windowsMs: readonly number[];
  private readonly graceMs: number;
  private readonly maxOpen: number;
  private readonly maxSamples: number;
  private readonly maxDistinct: number;
  /** Per window length, the windows the last record went to (see `accumulators`). */
  private readonly lastRun: (LastRun | undefined)[] = [];

  constructor(options: WindowOptions = {}) {
    this.windowsMs = options.windowsMs ?? [1000, 10_000];
    this.graceMs = options.graceMs ?? 2000;
    this.maxOpen = options.maxOpen ?? 200_000;
    this.maxSamples = options.maxSamples ?? 1024;
    this.maxDistinct = options.maxDistinct ?? 10_000;
  }

  get openCount(): number {
    return this.open.size;
  }

  private accumulators(
    timeMs: number,
    target: WorkloadName,
    peer: WorkloadName,
    source: WorkloadName,
    outcome: AddOutcome,
    visit: (inbound: Accumulator, edge: Accumulator, outbound: Accumulator) => void,
  ): void {
    // Built once per record, for the windows of every length that are not the last run's.
    let targetKey: string | undefined;
    let peerKey: string | undefined;
    let sourceKey: string | undefined;
    for (let i = 0; i < this.windowsMs.length; i++) {
      const sizeMs = this.windowsMs[i] as number;
      const start = timeMs - (timeMs % sizeMs);
      if (start + sizeMs <= (this.closedUntil.get(sizeMs) ?? -Infinity)) {
        outcome.late++;
        continue;
      }
      // A data plane's records come in runs of the same caller and callee: the last run's
      // windows are reused without building keys. (A window that closed is late, checked above.)
      const last = this.lastRun[i];
      if (
        last &&
        last.start === start &&
        sameName(last.target, target) &&
        sameName(last.peer, peer) &&
        sameName(last.source, source)
      ) {
        visit(last.inbound, last.edge, last.outbound);
        outcome.accepted++;
        continue;
      }
      targetKey ??= nameKey(target);
      const prefix = windowPrefix(sizeMs, start);
      const inbound = this.get(keyOf(prefix, 'workload', targetKey, ''), 'workload', sizeMs, start, target);
      const edge = this.get(
        keyOf(prefix, 'edge', targetKey, (peerKey ??= nameKey(peer))),
        'edge',
        sizeMs,
        start,
        target,
        peer,
      );
      const outbound = this.get(
        keyOf(prefix, 'workload', (sourceKey ??= nameKey(source)), ''),
        'workload',
        sizeMs,
        start,
        source,
      );
      if (!inbound || !edge || !outbound) {
        outcome.overflow++;
        continue;
      }
      this.lastRun[i] = { start, target, peer, source, inbound, edge, outbound };
      visit(inbound, edge, outbound);
      outcome.accepted++;
    }
  }

  private get(
    key: string,
    scope: FeatureScope,
    sizeMs: number,
    start: number,
    target: WorkloadName,
    peer?: WorkloadName,
  ): Accumulator | undefined {
    const found = this.open.get(key);
    if (found) return found.acc;
    if (this.open.size >= this.maxOpen) return undefined;
    const acc = new Accumulator(this.maxSamples, this.maxDistinct);
    this.open.set(key, { scope, target, ...(peer ? { peer } : {}), sizeMs, start, acc });
    return acc;
  }

  /**
   * One access record. A decision record (one carrying `decision`) counts only as a deny, since the
   * same call also arrives from the data plane; an allow decision adds nothing.
   */
  add(record: AccessRecord): AddOutcome {
    const outcome: AddOutcome = { accepted: 0, late: 0, overflow: 0 };
    const timeMs = Date.parse(record.time);
    if (!Number.isFinite(timeMs)) return outcome;
    const target = nameOf(record.destination);
    const source = nameOf(record.source);
    if (record.decision !== undefined) {
      if (record.decision === 'deny')
        this.accumulators(timeMs, target, source, source, outcome, (inbound, edge, outbound) => {
          inbound.denies++;
          edge.denies++;
          outbound.outDenies++;
        });
      return outcome;
    }
    const status = record.status ?? 0;
    const is4xx = status >= 400 && status < 500 ? 1 : 0;
    const is5xx = status >= 500 && status < 600 ? 1 : 0;
    const isAuth = status === 401 || status === 403 ? 1 : 0;
    const bytesIn = record.bytesReceived ?? 0;
    const bytesOut = record.bytesSent ?? 0;
    const peer = peerId(record.source);
    const destinationPeer = peerId(record.destination);
    const port = record.destination.port;
    this.accumulators(timeMs, target, source, source, outcome, (inbound, edge, outbound) => {
      for (const acc of [inbound, edge]) {
        acc.requests++;
        acc.status4xx += is4xx;
        acc.status5xx += is5xx;
        acc.authFailures += isAuth;
        acc.bytesIn += bytesIn;
        acc.bytesOut += bytesOut;
        if (record.durationMs !== undefined) acc.latencies.add(record.durationMs);
        acc.remember(acc.paths, record.path);
        acc.remember(acc.ports, port);
        acc.remember(acc.peers, peer);
      }
      outbound.outRequests++;
      outbound.out4xx += is4xx;
      outbound.out5xx += is5xx;
      outbound.outAuthFailures += isAuth;
      outbound.outBytesIn += bytesOut;
      outbound.outBytesOut += bytesIn;
      outbound.remember(outbound.outPeers, destinationPeer);
      if (port !== undefined) outbound.remember(outbound.outPorts, `${destinationPeer ?? ''}:${port}`);
    });
    return outcome;
  }

  /** A sidecar's aggregate for one window: counts, no latencies or distinct sets. */
  addCounters(sample: CounterSample): AddOutcome {
    const outcome: AddOutcome = { accepted: 0, late: 0, overflow: 0 };
    const { source, destination: target } = sample;
    this.accumulators(sample.timeMs, target, source, source, outcome, (inbound, edge, outbound) => {
      for (const acc of [inbound, edge]) {
        acc.requests += sample.requests;
        acc.status4xx += sample.status4xx;
        acc.status5xx += sample.status5xx;
        acc.bytesIn += sample.bytesIn;
        acc.bytesOut += sample.bytesOut;
        acc.remember(acc.peers, `${source.namespace}/${source.workload}`);
      }
      outbound.outRequests += sample.requests;
      outbound.out4xx += sample.status4xx;
      outbound.out5xx += sample.status5xx;
      outbound.outBytesIn += sample.bytesOut;
      outbound.outBytesOut += sample.bytesIn;
      outbound.remember(outbound.outPeers, `${target.namespace}/${target.workload}`);
    });
    return outcome;
  }

  /** Closes and returns every window that ended at least the grace period before `nowMs`. */
  close(nowMs: number): FeatureWindow[] {
    const out: FeatureWindow[] = [];
    for (const sizeMs of this.windowsMs) {
      const closable = nowMs - this.graceMs;
      const boundary = closable - (closable % sizeMs);
      if (boundary > (this.closedUntil.get(sizeMs) ?? -Infinity)) this.closedUntil.set(sizeMs, boundary);
    }
    for (const [key, entry] of this.open) {
      if (entry.start + entry.sizeMs > (this.closedUntil.get(entry.sizeMs) ?? -Infinity)) continue;
      this.open.delete(key);
      out.push({
        scope: entry.scope,
        target: entry.target,
        ...(entry.peer ? { peer: entry.peer } : {}),
        windowSeconds: entry.sizeMs / 1000,
        windowStart: new Date(entry.start).toISOString(),
        windowEnd: new Date(entry.start + entry.sizeMs).toISOString(),
        features: entry.acc.features(entry.scope),
      });
    }
    return out;
  }

  /** Closes everything still open (at shutdown). */
  drain(): FeatureWindow[] {
    return this.close(Number.MAX_SAFE_INTEGER - this.graceMs);
  }
}
