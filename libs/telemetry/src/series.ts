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
  /** The `calls` entry that holds it, if any (dropped with it). */
  call?: string;
};

/** The series one call counts in, found together under the call's label values. */
type CallSeries = { requests?: Series; received?: Series; sent?: Series; duration?: Series };

/** Adds `delta` to one field of a series and marks it changed. */
const count = (series: Series, field: string, delta: number, nowMs: number): void => {
  series.fields[field] = (series.fields[field] ?? 0) + delta;
  series.changedAt = nowMs;
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
  private readonly calls = new Map<string, CallSeries>();
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
    let key = measurement;
    for (const name in labels) key += `\u0000${labels[name]}`;
    const entry = this.entry(key, measurement, () => labels, nowMs);
    if (!entry) return 'overflow';
    for (const [field, delta] of Object.entries(fields)) count(entry, field, delta, nowMs);
    return 'ok';
  }

  /**
   * The series under `key` (its measurement and label values, NUL-separated), created on first
   * use with the escaped line prefix built once; undefined past `maxSeries`.
   */
  private entry(key: string, measurement: string, labels: () => Labels, nowMs: number): Series | undefined {
    let entry = this.series.get(key);
    if (!entry) {
      if (this.series.size >= this.maxSeries) return undefined;
      entry = {
        measurementTags: `${measurement},${tagsOf({ ...labels(), instance: this.instance })}`,
        fields: {},
        changedAt: nowMs,
      };
      this.series.set(key, entry);
    }
    entry.changedAt = nowMs;
    return entry;
  }

  /** Counts one access record (a decision record counts only as a deny). */
  add(record: AccessRecord, nowMs: number): SeriesOutcome {
    const sourceNamespace = record.source.namespace ?? 'unknown';
    const sourceWorkload = record.source.workload ?? 'unknown';
    const destinationNamespace = record.destination.namespace ?? 'unknown';
    const destinationWorkload = record.destination.workload ?? 'unknown';
    if (record.decision !== undefined) {
      if (record.decision !== 'deny') return 'ok';
      return this.bump(
        'warden_denied_requests',
        {
          source_namespace: sourceNamespace,
          source_workload: sourceWorkload,
          destination_namespace: destinationNamespace,
          destination_workload: destinationWorkload,
          reason: record.reason ?? 'unknown',
        },
        { total: 1 },
        nowMs,
      );
    }
    // The hot path: every series of a call shares one label set, found once under its values;
    // the labels themselves are built only when a series is new.
    const responseCode = `${record.status ?? 0}`;
    const labelValues = `\u0000${sourceNamespace}\u0000${sourceWorkload}\u0000${destinationNamespace}\u0000${destinationWorkload}\u0000${responseCode}\u0000${record.protocol}`;
    let call = this.calls.get(labelValues);
    if (!call) {
      call = {};
      this.calls.set(labelValues, call);
    }
    const labels = (): Labels => ({
      source_namespace: sourceNamespace,
      source_workload: sourceWorkload,
      destination_namespace: destinationNamespace,
      destination_workload: destinationWorkload,
      response_code: responseCode,
      protocol: record.protocol,
    });
    const series = (measurement: string): Series | undefined => {
      const found = this.entry(`${measurement}${labelValues}`, measurement, labels, nowMs);
      if (found) found.call = labelValues;
      return found;
    };
    const requests = (call.requests ??= series('warden_requests'));
    const received = (call.received ??= series('warden_received_bytes'));
    const sent = (call.sent ??= series('warden_sent_bytes'));
    let overflow = !requests || !received || !sent;
    if (requests) count(requests, 'total', 1, nowMs);
    if (received) count(received, 'total', record.bytesReceived ?? 0, nowMs);
    if (sent) count(sent, 'total', record.bytesSent ?? 0, nowMs);
    if (record.durationMs !== undefined) {
      const duration = (call.duration ??= series('warden_request_duration_seconds'));
      if (duration) {
        count(duration, 'sum', record.durationMs / 1000, nowMs);
        count(duration, 'count', 1, nowMs);
      } else overflow = true;
    }
    return overflow ? 'overflow' : 'ok';
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
        // Its call's other series are found again in `series` on the next call.
        if (entry.call !== undefined) this.calls.delete(entry.call);
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
