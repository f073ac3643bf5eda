import type { AccessRecord } from './record.ts';
import type { CounterSample } from './features.ts';

/**
 * Prometheus-style counters kept from access records and written as InfluxDB line protocol, which
 * VictoriaMetrics stores as `<measurement>_<field>`:
 *
 * | series                                          | labels                                         |
 * | ----------------------------------------------- | ---------------------------------------------- |
 * | `warden_requests_total`                         | edge labels, `response_code`, `protocol`        |
 * | `warden_request_duration_seconds_sum`, `_count` | edge labels, `response_code`, `protocol`        |
 * | `warden_received_bytes_total`                   | edge labels, `response_code`, `protocol`        |
 * | `warden_sent_bytes_total`                       | edge labels, `response_code`, `protocol`        |
 * | `warden_denied_requests_total`                  | edge labels, `reason`                           |
 *
 * Edge labels: `source_namespace`, `source_workload`, `destination_namespace`,
 * `destination_workload`, plus `instance` (the writing ingest instance, so that two instances'
 * counters are two series, summed by the query). Counters are cumulative, and every live series
 * is written at each interval (unchanged values included) so that `rate()` falls back to zero when
 * traffic stops; a series unchanged for `idleMs` is no longer written.
 */

export type SeriesOptions = {
  instance: string;
  /** Series kept at most; past it, records for new label sets are refused (counted). */
  maxSeries?: number;
  idleMs?: number;
};

type Labels = Record<string, string>;

type Series = {
  measurementTags: string;
  fields: Record<string, number>;
  changedAt: number;
};

const escapeTag = (value: string): string => value.replace(/[\\, =]/g, (c) => `\\${c}`).replace(/\n/g, '');

const tagsOf = (labels: Labels): string =>
  Object.keys(labels)
    .sort()
    .filter((key) => labels[key] !== '')
    .map((key) => `${key}=${escapeTag(labels[key] ?? '')}`)
    .join(',');

const fieldValue = (value: number): string => String(value);

export type SeriesOutcome = 'ok' | 'overflow';

export class SeriesCounters {
  private readonly series = new Map<string, Series>();
  private readonly instance: string;
  private readonly maxSeries: number;
  private readonly idleMs: number;

  constructor(options: SeriesOptions) {
    this.instance = options.instance;
    this.maxSeries = options.maxSeries ?? 100_000;
    this.idleMs = options.idleMs ?? 15 * 60_000;
  }

  get size(): number {
    return this.series.size;
  }

  private bump(
    measurement: string,
    labels: Labels,
    fields: Record<string, number>,
    nowMs: number,
  ): SeriesOutcome {
    // The hot path: a cheap key first; the escaped line prefix is built once per new series.
    let key = measurement;
    for (const name in labels) key += `\u0000${labels[name]}`;
    let entry = this.series.get(key);
    if (!entry) {
      if (this.series.size >= this.maxSeries) return 'overflow';
      entry = {
        measurementTags: `${measurement},${tagsOf({ ...labels, instance: this.instance })}`,
        fields: {},
        changedAt: nowMs,
      };
      this.series.set(key, entry);
    }
    for (const [field, delta] of Object.entries(fields))
      entry.fields[field] = (entry.fields[field] ?? 0) + delta;
    entry.changedAt = nowMs;
    return 'ok';
  }

  /** Counts one access record (a decision record counts only as a deny). */
  add(record: AccessRecord, nowMs: number): SeriesOutcome {
    const edge: Labels = {
      source_namespace: record.source.namespace ?? 'unknown',
      source_workload: record.source.workload ?? 'unknown',
      destination_namespace: record.destination.namespace ?? 'unknown',
      destination_workload: record.destination.workload ?? 'unknown',
    };
    if (record.decision !== undefined) {
      if (record.decision !== 'deny') return 'ok';
      return this.bump(
        'warden_denied_requests',
        { ...edge, reason: record.reason ?? 'unknown' },
        { total: 1 },
        nowMs,
      );
    }
    const labels = { ...edge, response_code: `${record.status ?? 0}`, protocol: record.protocol };
    const outcomes = [
      this.bump('warden_requests', labels, { total: 1 }, nowMs),
      this.bump('warden_received_bytes', labels, { total: record.bytesReceived ?? 0 }, nowMs),
      this.bump('warden_sent_bytes', labels, { total: record.bytesSent ?? 0 }, nowMs),
    ];
    if (record.durationMs !== undefined)
      outcomes.push(
        this.bump(
          'warden_request_duration_seconds',
          labels,
          { sum: record.durationMs / 1000, count: 1 },
          nowMs,
        ),
      );
    return outcomes.includes('overflow') ? 'overflow' : 'ok';
  }

  /**
   * Counts a sidecar's aggregate. Its 5xx and 4xx are written with the class as `response_code`
   * (`5xx`, `4xx`; the rest `2xx`), which `response_code=~"5.."` matches like a real code.
   */
  addCounters(sample: CounterSample, protocol: string, nowMs: number): SeriesOutcome {
    const edge: Labels = {
      source_namespace: sample.source.namespace,
      source_workload: sample.source.workload,
      destination_namespace: sample.destination.namespace,
      destination_workload: sample.destination.workload,
      protocol,
    };
    const ok = Math.max(0, sample.requests - sample.status4xx - sample.status5xx);
    const outcomes: SeriesOutcome[] = [];
    for (const [code, count] of [
      ['2xx', ok],
      ['4xx', sample.status4xx],
      ['5xx', sample.status5xx],
    ] as const) {
      if (count > 0)
        outcomes.push(
          this.bump('warden_requests', { ...edge, response_code: code }, { total: count }, nowMs),
        );
    }
    const labels = { ...edge, response_code: 'all' };
    outcomes.push(this.bump('warden_received_bytes', labels, { total: sample.bytesIn }, nowMs));
    outcomes.push(this.bump('warden_sent_bytes', labels, { total: sample.bytesOut }, nowMs));
    if (sample.meanDurationMs !== undefined && sample.requests > 0)
      outcomes.push(
        this.bump(
          'warden_request_duration_seconds',
          labels,
          { sum: (sample.meanDurationMs * sample.requests) / 1000, count: sample.requests },
          nowMs,
        ),
      );
    return outcomes.includes('overflow') ? 'overflow' : 'ok';
  }

  /** Every live series at `nowMs` as line protocol (millisecond timestamps); idle ones are forgotten. */
  lines(nowMs: number): string[] {
    const out: string[] = [];
    for (const [key, entry] of this.series) {
      if (nowMs - entry.changedAt > this.idleMs) {
        this.series.delete(key);
        continue;
      }
      const fields = Object.entries(entry.fields)
        .map(([field, value]) => `${field}=${fieldValue(value)}`)
        .join(',');
      out.push(`${entry.measurementTags} ${fields} ${nowMs}`);
    }
    return out;
  }
}
