import { createHash } from 'node:crypto';
import { WardenError } from '@warden/core';
import type { AccessRecord } from './record.ts';

/**
 * Alertmanager v2 notifications (`POST /api/v2/alerts`, as vmalert and Prometheus send them) into
 * Warden alerts. A notification is an array of alerts with no status: one whose `endsAt` is past is
 * resolved. vmalert re-sends a firing alert at every evaluation and a resolved one for 15 minutes,
 * so `AlertTracker` keeps what it has announced and emits each change once: a `firing` event when
 * an alert (its labels and `startsAt`) is first seen, a `resolved` event when it ends, or when its
 * `endsAt` passes without a refresh (the evaluator went away).
 */

export class AlertPayloadError extends WardenError {}

export type NotifiedAlert = {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
  /** Set by Warden's own detectors, never read from a notification. */
  evidence?: AlertEvidence;
};

/** The `evidence` of the catalogue's alert (`@warden/events`), written out because this lib is pure. */
export type AlertEvidence = {
  detector: 'query-rule' | 'streaming-rule' | 'lstm' | 'threat-intel';
  model?: string;
  score?: number;
  window?: { start: string; end: string };
  conditions?: {
    feature: string;
    kind: 'threshold' | 'rate' | 'zscore' | 'forecast';
    value: number;
    required?: number;
    baseline?: number;
    z?: number;
  }[];
  samples?: AccessRecord[];
  samplesNote?: string;
};

export type Severity = 'critical' | 'warning' | 'info';

export type AlertChange = {
  alertId: string;
  status: 'firing' | 'resolved';
  severity: Severity;
  rule: string;
  target: { namespace: string; workload: string };
  summary: string;
  labels: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  /** Firing changes only: why it fired (see `AlertEvidence`). */
  evidence?: AlertEvidence;
};

/** Alerts per notification at most; vmalert sends one request per group evaluation. */
export const MAX_NOTIFIED_ALERTS = 10_000;
const MAX_LABELS = 64;
/** How long a firing alert read back at start lives without a refresh from the evaluator. */
const REPLAYED_FIRING_MS = 5 * 60_000;

const isRecordOfStrings = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.values(value).every((v) => typeof v === 'string');

const validTime = (value: unknown): value is string =>
  typeof value === 'string' && Number.isFinite(Date.parse(value));

/** Checks a decoded notification body; throws `AlertPayloadError` naming the first problem. */
export function parseNotification(body: unknown): NotifiedAlert[] {
  if (!Array.isArray(body)) throw new AlertPayloadError('invalid_alerts', 'expected a JSON array of alerts');
  if (body.length > MAX_NOTIFIED_ALERTS)
    throw new AlertPayloadError(
      'too_many_alerts',
      `${body.length} alerts in one notification; at most ${MAX_NOTIFIED_ALERTS}`,
    );
  return body.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null)
      throw new AlertPayloadError('invalid_alerts', `alert ${i}: not an object`);
    const a = item as Record<string, unknown>;
    if (!isRecordOfStrings(a['labels']) || Object.keys(a['labels']).length === 0)
      throw new AlertPayloadError(
        'invalid_alerts',
        `alert ${i}: labels must be a non-empty object of strings`,
      );
    if (Object.keys(a['labels']).length > MAX_LABELS)
      throw new AlertPayloadError('invalid_alerts', `alert ${i}: more than ${MAX_LABELS} labels`);
    if (a['annotations'] !== undefined && !isRecordOfStrings(a['annotations']))
      throw new AlertPayloadError('invalid_alerts', `alert ${i}: annotations must be an object of strings`);
    if (!validTime(a['startsAt']))
      throw new AlertPayloadError('invalid_alerts', `alert ${i}: startsAt is not a time`);
    if (a['endsAt'] !== undefined && !validTime(a['endsAt']))
      throw new AlertPayloadError('invalid_alerts', `alert ${i}: endsAt is not a time`);
    const alert: NotifiedAlert = {
      labels: a['labels'],
      annotations: (a['annotations'] as Record<string, string> | undefined) ?? {},
      startsAt: a['startsAt'],
    };
    if (typeof a['endsAt'] === 'string') alert.endsAt = a['endsAt'];
    if (typeof a['generatorURL'] === 'string') alert.generatorURL = a['generatorURL'];
    return alert;
  });
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SEVERITIES: readonly string[] = ['critical', 'warning', 'info'];

/**
 * Whom an alert is about: its `namespace`/`workload` labels, else the edge's destination, else its
 * source; `unknown` when the rule names nobody (the alert still goes out, to `…unknown.unknown`).
 */
function targetOf(labels: Record<string, string>): { namespace: string; workload: string } {
  for (const prefix of ['', 'destination_', 'source_']) {
    const namespace = labels[`${prefix}namespace`];
    const workload = labels[`${prefix}workload`];
    if (namespace && workload && DNS_LABEL.test(namespace) && workload.length <= 253)
      return { namespace, workload };
  }
  return { namespace: 'unknown', workload: 'unknown' };
}

/** The labels as the alert schema holds them: values cut to 63 characters, names to 317. */
const boundedLabels = (labels: Record<string, string>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(labels)
      .filter(([key]) => key.length <= 317)
      .map(([key, value]) => [key, value.slice(0, 63)]),
  );

/** The same alert (labels and start) always gets the same id, on every instance. */
export function alertIdOf(alert: Pick<NotifiedAlert, 'labels' | 'startsAt'>): string {
  const labels = Object.keys(alert.labels)
    .sort()
    .map((key) => [key, alert.labels[key]]);
  const startsAt = new Date(alert.startsAt).toISOString();
  return createHash('sha256')
    .update(JSON.stringify([labels, startsAt]))
    .digest('hex')
    .slice(0, 32);
}

function changeOf(alert: NotifiedAlert, status: 'firing' | 'resolved', endsAt?: string): AlertChange {
  const rule = (alert.labels['alertname'] ?? 'unnamed').slice(0, 253) || 'unnamed';
  const severityLabel = alert.labels['severity'] ?? '';
  const target = targetOf(alert.labels);
  const summary =
    alert.annotations['summary'] ??
    alert.annotations['description'] ??
    `${rule} on ${target.namespace}/${target.workload}`;
  const change: AlertChange = {
    alertId: alertIdOf(alert),
    status,
    severity: SEVERITIES.includes(severityLabel) ? (severityLabel as Severity) : 'warning',
    rule,
    target,
    summary: summary.slice(0, 4096),
    labels: boundedLabels(alert.labels),
    startsAt: new Date(alert.startsAt).toISOString(),
  };
  if (endsAt) change.endsAt = new Date(endsAt).toISOString();
  if (status === 'firing' && alert.evidence) change.evidence = alert.evidence;
  return change;
}

type Firing = { alert: NotifiedAlert; endsAtMs: number };

export type TrackerOptions = {
  /** How long a resolved alert is remembered so its repeats stay quiet (vmalert repeats 15 min). */
  resolvedMemoryMs?: number;
  /** Firing alerts tracked at most; past it the oldest are forgotten (and could fire again). */
  maxFiring?: number;
};

export class AlertTracker {
  private readonly firing = new Map<string, Firing>();
  private readonly resolved = new Map<string, number>();
  private readonly resolvedMemoryMs: number;
  private readonly maxFiring: number;

  constructor(options: TrackerOptions = {}) {
    this.resolvedMemoryMs = options.resolvedMemoryMs ?? 20 * 60_000;
    this.maxFiring = options.maxFiring ?? 100_000;
  }

  get firingCount(): number {
    return this.firing.size;
  }

  /**
   * Forgets an announced change whose event could not be published, so the evaluator's next
   * notification (vmalert repeats every evaluation) announces it again.
   */
  forget(change: Pick<AlertChange, 'alertId' | 'status'>): void {
    if (change.status === 'firing') this.firing.delete(change.alertId);
    else this.resolved.delete(change.alertId);
  }

  /**
   * Marks an alert as already announced (rebuilt from the alert stream at start). A firing one is
   * kept for `REPLAYED_FIRING_MS` unless the evaluator's repeats refresh it.
   */
  remember(change: Pick<AlertChange, 'alertId' | 'status' | 'labels' | 'startsAt'>, nowMs: number): void {
    if (change.status === 'resolved') {
      this.firing.delete(change.alertId);
      this.resolved.set(change.alertId, nowMs);
      return;
    }
    if (this.resolved.has(change.alertId)) return;
    this.firing.set(change.alertId, {
      alert: { labels: change.labels, annotations: {}, startsAt: change.startsAt },
      endsAtMs: nowMs + REPLAYED_FIRING_MS,
    });
  }

  /** The changes one notification brings. */
  receive(alerts: readonly NotifiedAlert[], nowMs: number): AlertChange[] {
    const changes: AlertChange[] = [];
    for (const alert of alerts) {
      const id = alertIdOf(alert);
      const endsAtMs = alert.endsAt ? Date.parse(alert.endsAt) : Number.POSITIVE_INFINITY;
      if (endsAtMs <= nowMs) {
        if (this.resolved.has(id)) continue;
        this.firing.delete(id);
        this.resolved.set(id, nowMs);
        changes.push(changeOf(alert, 'resolved', alert.endsAt));
        continue;
      }
      if (this.resolved.has(id)) continue;
      const known = this.firing.get(id);
      if (known) {
        known.endsAtMs = endsAtMs;
        continue;
      }
      if (this.firing.size >= this.maxFiring) {
        const oldest = this.firing.keys().next().value;
        if (oldest !== undefined) this.firing.delete(oldest);
      }
      this.firing.set(id, { alert, endsAtMs });
      changes.push(changeOf(alert, 'firing'));
    }
    return changes;
  }

  /** Resolves firing alerts whose `endsAt` passed without a refresh, and forgets old resolutions. */
  expire(nowMs: number): AlertChange[] {
    const changes: AlertChange[] = [];
    for (const [id, entry] of this.firing) {
      if (entry.endsAtMs > nowMs) continue;
      this.firing.delete(id);
      this.resolved.set(id, nowMs);
      changes.push(changeOf(entry.alert, 'resolved', new Date(entry.endsAtMs).toISOString()));
    }
    for (const [id, at] of this.resolved) if (nowMs - at > this.resolvedMemoryMs) this.resolved.delete(id);
    return changes;
  }
}
