import type { AccessRecord } from './record.ts';

/** What an alert's sample records must be: of its workload, its direction and its window. */
export type SampleQuery = {
  target: { namespace: string; workload: string };
  /** `inbound`: calls the workload received; `outbound`: calls it made. */
  direction: 'inbound' | 'outbound';
  /** The window judged (epoch ms); records a little outside it count (clocks, batching). */
  startMs: number;
  endMs: number;
  /** The rule (alert name): it decides which records explain the alert best. */
  rule: string;
  max: number;
};

/**
 * A sample's long fields are cut to these lengths: five samples stay within a few KiB, so an
 * alert stays a small message however long the paths and identities of the calls it shows.
 */
export const SAMPLE_FIELD_LIMITS = { path: 256, principal: 512, policy: 256 } as const;

const cut = (value: string, max: number): string => (value.length <= max ? value : value.slice(0, max));

function bounded(r: AccessRecord): AccessRecord {
  const out: AccessRecord = { ...r, source: { ...r.source }, destination: { ...r.destination } };
  const L = SAMPLE_FIELD_LIMITS;
  if (r.path !== undefined) out.path = cut(r.path, L.path);
  if (r.policy !== undefined) out.policy = cut(r.policy, L.policy);
  if (r.source.principal !== undefined) out.source.principal = cut(r.source.principal, L.principal);
  if (r.destination.principal !== undefined)
    out.destination.principal = cut(r.destination.principal, L.principal);
  return out;
}

/** Records up to this far outside the window still belong to it. */
export const SAMPLE_SLACK_MS = 1000;

/** Rules whose own kind of record (rank 2) `relevance` knows. */
const COUNTED_BY_RULE = new Set(['5xx-storm', 'credential-stuffing', 'deny-burst']);

const isError = (r: AccessRecord): boolean => (r.status ?? 0) >= 500;
const isAuthFailure = (r: AccessRecord): boolean => r.status === 401 || r.status === 403;
const isDenied = (r: AccessRecord): boolean => r.decision === 'deny';

/**
 * How well a record explains an alert of `rule`: 2 is what the rule counts (a 5xx for a 5xx
 * storm), 1 anything else unusual, 0 an ordinary call of the window. Scans and exfiltration are
 * told by variety and size instead (`SampleCollector`).
 */
function relevance(rule: string, r: AccessRecord): number {
  switch (rule) {
    case '5xx-storm':
      return isError(r) ? 2 : 0;
    case 'credential-stuffing':
      return isAuthFailure(r) ? 2 : 0;
    case 'deny-burst':
      return isDenied(r) ? 2 : isAuthFailure(r) ? 1 : 0;
    default:
      return isError(r) || isDenied(r) ? 1 : (r.status ?? 0) >= 400 ? 1 : 0;
  }
}

/** For scans, what makes two records different evidence: the port or the peer they reached. */
function varietyKey(rule: string, direction: SampleQuery['direction'], r: AccessRecord): string | undefined {
  const other = direction === 'inbound' ? r.source : r.destination;
  if (rule === 'port-scan') return `${r.destination.address ?? ''}:${r.destination.port ?? ''}`;
  if (rule === 'peer-scan')
    return other.principal ?? other.address ?? `${other.namespace ?? ''}/${other.workload ?? ''}`;
  return undefined;
}

type Kept = { record: AccessRecord; rank: number; timeMs: number; key: string | undefined };

const bytesOf = (r: AccessRecord): number => (r.bytesSent ?? 0) + (r.bytesReceived ?? 0);

/**
 * Keeps the `max` records that explain an alert best, offered in any order and any number:
 * those the rule counts first, then the most recent; for scans, one record per port or peer
 * reached; for exfiltration, the largest transfers. Memory stays at `max` records.
 */
export class SampleCollector {
  readonly #query: SampleQuery;
  readonly #kept: Kept[] = [];
  #seen = 0;

  constructor(query: SampleQuery) {
    this.#query = query;
  }

  /** Records of the alert's workload, direction and window that were offered. */
  get matched(): number {
    return this.#seen;
  }

  /** Whether nothing better than what is kept can come (all `max` are of the best kind). */
  get settled(): boolean {
    const { rule, max } = this.#query;
    if (this.#kept.length < max) return false;
    if (rule === 'port-scan' || rule === 'peer-scan' || rule === 'exfiltration') return false;
    const best = COUNTED_BY_RULE.has(rule) ? 2 : 1;
    return this.#kept.every((k) => k.rank >= best);
  }

  offer(record: AccessRecord): void {
    const q = this.#query;
    const timeMs = Date.parse(record.time);
    if (!(timeMs >= q.startMs - SAMPLE_SLACK_MS && timeMs <= q.endMs + SAMPLE_SLACK_MS)) return;
    const side = q.direction === 'inbound' ? record.destination : record.source;
    if (side.namespace !== q.target.namespace || side.workload !== q.target.workload) return;
    this.#seen++;
    const key = varietyKey(q.rule, q.direction, record);
    if (key !== undefined && this.#kept.some((k) => k.key === key)) return;
    const rank = q.rule === 'exfiltration' ? bytesOf(record) : relevance(q.rule, record);
    const entry = { record, rank, timeMs, key };
    const worst = this.#worst();
    if (this.#kept.length < q.max) this.#kept.push(entry);
    else if (worst !== undefined && this.#better(entry, this.#kept[worst] as Kept)) this.#kept[worst] = entry;
  }

  /** The kept records, best first, their long fields cut (`SAMPLE_FIELD_LIMITS`). */
  samples(): AccessRecord[] {
    return [...this.#kept].sort((a, b) => (this.#better(a, b) ? -1 : 1)).map((k) => bounded(k.record));
  }

  #better(a: { rank: number; timeMs: number }, b: { rank: number; timeMs: number }): boolean {
    return a.rank !== b.rank ? a.rank > b.rank : a.timeMs > b.timeMs;
  }

  #worst(): number | undefined {
    let worst: number | undefined;
    for (let i = 0; i < this.#kept.length; i++) {
      if (worst === undefined || this.#better(this.#kept[worst] as Kept, this.#kept[i] as Kept)) worst = i;
    }
    return worst;
  }
}
