import { alertIdOf } from '@warden/telemetry';
import type { AccessRecord, AlertChange, ThreatIndex, ThreatMatch } from '@warden/telemetry';

type Open = { change: AlertChange; lastSeenMs: number };

/** Sources tracked at most; past it new matches still alert, the oldest are forgotten first. */
const MAX_OPEN = 100_000;

/**
 * Access records whose source (address or SPIFFE ID) a feed lists become `ThreatIntelMatch`
 * alerts: critical, about the destination, once per source, destination and feed entry; resolved
 * once the source has been quiet for `quietMs`.
 */
export class ThreatAlerts {
  private readonly open = new Map<string, Open>();
  private readonly quietMs: number;

  constructor(quietMs: number) {
    this.quietMs = quietMs;
  }

  observe(
    record: AccessRecord,
    index: ThreatIndex,
    nowMs: number,
  ): { changes: AlertChange[]; matches: ThreatMatch[] } {
    const changes: AlertChange[] = [];
    const matches: ThreatMatch[] = [];
    const hits: [string, ThreatMatch | undefined][] = [];
    if (record.source.address)
      hits.push([`address:${record.source.address}`, index.matchAddress(record.source.address)]);
    if (record.source.principal)
      hits.push([`principal:${record.source.principal}`, index.matchPrincipal(record.source.principal)]);
    for (const [who, match] of hits) {
      if (!match) continue;
      matches.push(match);
      const target = {
        namespace: record.destination.namespace ?? 'unknown',
        workload: record.destination.workload ?? 'unknown',
      };
      const key = `${who}|${target.namespace}/${target.workload}|${match.feed}|${match.entry}`;
      const known = this.open.get(key);
      if (known) {
        known.lastSeenMs = nowMs;
        continue;
      }
      const labels: Record<string, string> = {
        alertname: 'ThreatIntelMatch',
        severity: 'critical',
        feed: match.feed,
        entry: match.entry,
        namespace: target.namespace,
        workload: target.workload,
      };
      if (record.source.address) labels['source_address'] = record.source.address;
      if (record.source.principal) labels['source_principal'] = record.source.principal;
      if (record.source.namespace) labels['source_namespace'] = record.source.namespace;
      if (record.source.workload) labels['source_workload'] = record.source.workload;
      if (match.note) labels['note'] = match.note;
      const startsAt = new Date(nowMs).toISOString();
      const change: AlertChange = {
        alertId: alertIdOf({ labels, startsAt }),
        status: 'firing',
        severity: 'critical',
        rule: 'ThreatIntelMatch',
        target,
        summary: `${who.replace(/^[a-z]+:/, '')} → ${target.namespace}/${target.workload} is listed by ${match.feed} (${match.entry})`,
        labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, v.slice(0, 63)])),
        startsAt,
        evidence: {
          detector: 'threat-intel',
          window: { start: record.time, end: record.time },
          samples: [record],
        },
      };
      if (this.open.size >= MAX_OPEN) {
        const oldest = this.open.keys().next().value;
        if (oldest !== undefined) this.open.delete(oldest);
      }
      this.open.set(key, { change, lastSeenMs: nowMs });
      changes.push(change);
    }
    return { changes, matches };
  }

  /** Forgets firing alerts that could not be published, so a redelivered record raises them again. */
  forget(changes: readonly AlertChange[]): void {
    const ids = new Set(changes.map((c) => c.alertId));
    for (const [key, entry] of this.open) if (ids.has(entry.change.alertId)) this.open.delete(key);
  }

  /** Resolves the alerts whose source has been quiet long enough. */
  sweep(nowMs: number): AlertChange[] {
    const out: AlertChange[] = [];
    for (const [key, entry] of this.open) {
      if (nowMs - entry.lastSeenMs < this.quietMs) continue;
      this.open.delete(key);
      // The firing event carried the evidence; its resolution does not repeat it.
      const { evidence: _firing, ...change } = entry.change;
      out.push({ ...change, status: 'resolved', endsAt: new Date(nowMs).toISOString() });
    }
    return out;
  }
}
