import type { CounterSample } from './features.ts';
import type { AccessRecord, Endpoint, Protocol } from './record.ts';
import { nameOrNone, namespaceOrNone, qualifierOf, RecordLimits } from './record.ts';

/**
 * Warden's `StreamTelemetry` reports (`proto/warden/telemetry/v1/telemetry.proto`, decoded by
 * @grpc/proto-loader with 64-bit integers as strings and enums as names) into access records and
 * counter samples. Every item is checked; a bad one is rejected with its reason and the rest of
 * the report is kept.
 */

type Long = string | number;

type Peer = {
  namespace?: string;
  workload?: string;
  principal?: string;
  address?: string;
  port?: number;
} | null;

export type ReportCall = {
  start_unix_ms?: Long;
  direction?: string;
  peer?: Peer;
  protocol?: string;
  method?: string;
  path?: string;
  status?: number;
  duration_ms?: number;
  bytes_received?: Long;
  bytes_sent?: Long;
  destination_port?: number;
};

export type ReportCounters = {
  window_start_unix_ms?: Long;
  window_ms?: number;
  direction?: string;
  peer?: Peer;
  protocol?: string;
  request_count?: Long;
  client_error_count?: Long;
  server_error_count?: Long;
  bytes_received?: Long;
  bytes_sent?: Long;
  mean_duration_ms?: number;
};

export type TelemetryReport = {
  reporter?: { namespace?: string; workload?: string; principal?: string } | null;
  calls?: ReportCall[];
  counters?: ReportCounters[];
};

export type ReportTranslation = {
  records: AccessRecord[];
  counters: (CounterSample & { protocol: string })[];
  rejected: { item: string; reason: string }[];
};

/** Items per report at most (a gRPC message is also capped in bytes by the server). */
export const MAX_REPORT_ITEMS = 10_000;
/** How far a report's times may stray from the receiver's clock. */
const MAX_SKEW_MS = 24 * 3600_000;
const PROTOCOLS: readonly string[] = ['http', 'grpc', 'tcp'];

const count = (value: Long | undefined): number | undefined => {
  const n = typeof value === 'number' ? value : Number(value ?? 0);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

const endpointOf = (
  p:
    | { namespace?: string; workload?: string; principal?: string; address?: string; port?: number }
    | null
    | undefined,
): Endpoint => {
  const out: Endpoint = {};
  const namespace = namespaceOrNone(p?.namespace);
  const workload = nameOrNone(p?.workload);
  if (namespace) out.namespace = namespace;
  if (workload) out.workload = workload;
  if (p?.principal && p.principal.startsWith('spiffe://') && p.principal.length <= RecordLimits.principal)
    out.principal = p.principal;
  if (p?.address && p.address.length <= RecordLimits.address) out.address = p.address;
  if (p?.port && p.port > 0 && p.port <= 65535) out.port = p.port;
  return out;
};

export function translateReport(report: TelemetryReport, nowMs: number): ReportTranslation {
  const out: ReportTranslation = { records: [], counters: [], rejected: [] };
  const namespace = namespaceOrNone(report.reporter?.namespace);
  const workload = nameOrNone(report.reporter?.workload);
  const calls = report.calls ?? [];
  const counters = report.counters ?? [];
  if (!namespace || !workload) {
    out.rejected.push({
      item: 'reporter',
      reason: 'the reporter needs a namespace (DNS-1123 label) and a workload',
    });
    return out;
  }
  if (calls.length + counters.length > MAX_REPORT_ITEMS) {
    out.rejected.push({ item: 'report', reason: `more than ${MAX_REPORT_ITEMS} items in one report` });
    return out;
  }
  const reporter = endpointOf({ ...report.reporter, namespace, workload });
  const timeOk = (ms: number | undefined): ms is number =>
    ms !== undefined && Math.abs(ms - nowMs) <= MAX_SKEW_MS;
  const sides = (
    direction: string | undefined,
    peer: Endpoint,
  ): { source: Endpoint; destination: Endpoint } | undefined =>
    // Copies: a call's port must not stick to the reporter shared by every item.
    direction === 'INBOUND'
      ? { source: peer, destination: { ...reporter } }
      : direction === 'OUTBOUND'
        ? { source: { ...reporter }, destination: peer }
        : undefined;

  calls.forEach((call, i) => {
    const item = `calls[${i}]`;
    const start = count(call.start_unix_ms);
    const bytesReceived = count(call.bytes_received);
    const bytesSent = count(call.bytes_sent);
    const both = sides(call.direction, endpointOf(call.peer));
    if (!both) return out.rejected.push({ item, reason: 'direction must be INBOUND or OUTBOUND' });
    if (!timeOk(start))
      return out.rejected.push({ item, reason: 'start_unix_ms is missing or more than a day away' });
    if (!PROTOCOLS.includes(call.protocol ?? ''))
      return out.rejected.push({ item, reason: 'protocol must be http, grpc or tcp' });
    if (bytesReceived === undefined || bytesSent === undefined)
      return out.rejected.push({ item, reason: 'byte counts must be non-negative integers' });
    if (call.duration_ms !== undefined && !(call.duration_ms >= 0 && Number.isFinite(call.duration_ms)))
      return out.rejected.push({ item, reason: 'duration_ms must be a non-negative number' });
    if (call.destination_port && call.destination_port <= 65535)
      both.destination.port = call.destination_port;
    const record: AccessRecord = {
      time: new Date(start).toISOString(),
      ...both,
      protocol: call.protocol as Protocol,
      bytesReceived,
      bytesSent,
    };
    if (call.method && /^[A-Z]{1,32}$/.test(call.method)) record.method = call.method;
    if (call.path) record.path = call.path.slice(0, RecordLimits.path);
    if (call.status && call.status <= 999) record.status = call.status;
    if (call.duration_ms) record.durationMs = call.duration_ms;
    out.records.push(record);
    return undefined;
  });

  counters.forEach((c, i) => {
    const item = `counters[${i}]`;
    const start = count(c.window_start_unix_ms);
    const values = [
      c.request_count,
      c.client_error_count,
      c.server_error_count,
      c.bytes_received,
      c.bytes_sent,
    ].map(count);
    const [requests, status4xx, status5xx, bytesIn, bytesOut] = values;
    const both = sides(c.direction, endpointOf(c.peer));
    if (!both) return out.rejected.push({ item, reason: 'direction must be INBOUND or OUTBOUND' });
    if (!timeOk(start))
      return out.rejected.push({ item, reason: 'window_start_unix_ms is missing or more than a day away' });
    if (
      requests === undefined ||
      status4xx === undefined ||
      status5xx === undefined ||
      bytesIn === undefined ||
      bytesOut === undefined
    )
      return out.rejected.push({ item, reason: 'counts must be non-negative integers' });
    if (status4xx + status5xx > requests)
      return out.rejected.push({ item, reason: 'more errors than requests' });
    const protocol = PROTOCOLS.includes(c.protocol ?? '') ? (c.protocol as string) : 'http';
    const sample: CounterSample & { protocol: string } = {
      timeMs: start,
      source: { namespace: qualifierOf(both.source.namespace), workload: qualifierOf(both.source.workload) },
      destination: {
        namespace: qualifierOf(both.destination.namespace),
        workload: qualifierOf(both.destination.workload),
      },
      requests,
      status4xx,
      status5xx,
      bytesIn,
      bytesOut,
      protocol,
    };
    if (c.mean_duration_ms !== undefined && c.mean_duration_ms > 0 && Number.isFinite(c.mean_duration_ms))
      sample.meanDurationMs = c.mean_duration_ms;
    out.counters.push(sample);
    return undefined;
  });
  return out;
}
