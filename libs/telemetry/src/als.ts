import { istioIdentityOf } from '@warden/pki';
import type { AccessRecord, Endpoint, Protocol } from './record.ts';
import { nameOrNone, namespaceOrNone, RecordLimits } from './record.ts';

/**
 * Envoy's Access Log Service messages (`envoy.service.accesslog.v3`) as @grpc/proto-loader decodes
 * them with `@warden/envoy`'s options (field names as in the .proto, 64-bit integers as strings,
 * enums as names, absent messages as null, the set oneof member named). Only what the
 * translation reads is typed.
 */
type Long = string | number;
type Timestamp = { seconds: Long; nanos: number } | null | undefined;
type Duration = { seconds: Long; nanos: number } | null | undefined;
type Address =
  { address?: string; socket_address?: { address: string; port_value: number } | null } | null | undefined;
type StructValue = { kind?: string; stringValue?: string; structValue?: Struct | null };
type Struct = { fields?: Record<string, StructValue> } | null | undefined;
type CertificateProperties =
  { subject_alt_name?: { uri?: string; dns?: string; san?: string }[] | null } | null | undefined;

export type AlsNode = { id?: string; cluster?: string; metadata?: Struct } | null | undefined;

export type AlsCommon =
  | {
      downstream_remote_address?: Address;
      downstream_local_address?: Address;
      tls_properties?: {
        local_certificate_properties?: CertificateProperties;
        peer_certificate_properties?: CertificateProperties;
      } | null;
      start_time?: Timestamp;
      time_to_last_downstream_tx_byte?: Duration;
      duration?: Duration;
      upstream_remote_address?: Address;
      upstream_cluster?: string;
      intermediate_log_entry?: boolean;
    }
  | null
  | undefined;

export type AlsHttpEntry = {
  common_properties?: AlsCommon;
  protocol_version?: string;
  request?: {
    request_method?: string;
    path?: string;
    authority?: string;
    request_headers_bytes?: Long;
    request_body_bytes?: Long;
    request_headers?: Record<string, string>;
  } | null;
  response?: {
    response_code?: { value: number } | null;
    response_headers_bytes?: Long;
    response_body_bytes?: Long;
  } | null;
};

export type AlsTcpEntry = {
  common_properties?: AlsCommon;
  connection_properties?: { received_bytes?: Long; sent_bytes?: Long } | null;
};

export type AlsMessage = {
  identifier?: { node?: AlsNode; log_name?: string } | null;
  log_entries?: string;
  http_logs?: { log_entry?: AlsHttpEntry[] } | null;
  tcp_logs?: { log_entry?: AlsTcpEntry[] } | null;
};

/** Who sent a stream: Envoy names its node only in the stream's first message. */
export type AlsStreamContext = { node: Endpoint };

const num = (value: Long | undefined | null): number => {
  const n = typeof value === 'number' ? value : Number(value ?? 0);
  return Number.isFinite(n) && n >= 0 ? n : 0;
};

const millisOf = (d: Duration): number | undefined =>
  d ? num(d.seconds) * 1000 + (d.nanos ?? 0) / 1e6 : undefined;

/** The last time written: a busy sidecar logs many calls in the same millisecond. */
let lastTime = { ms: Number.NaN, iso: '' };

const timeOf = (t: Timestamp, fallback: () => Date): string => {
  if (!t) return fallback().toISOString();
  const ms = num(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
  // Outside what a Date holds or before 2000: Envoy did not set it; the arrival time stands in.
  if (!(ms >= 946_684_800_000 && ms < 8.64e15)) return fallback().toISOString();
  if (ms !== lastTime.ms) lastTime = { ms, iso: new Date(ms).toISOString() };
  return lastTime.iso;
};

const stringField = (s: Struct, key: string): string | undefined => {
  const value = s?.fields?.[key];
  return value?.kind === 'stringValue' || value?.stringValue !== undefined ? value.stringValue : undefined;
};

const socketOf = (a: Address): { address?: string; port?: number } => {
  const socket = a?.socket_address;
  if (!socket) return {};
  const out: { address?: string; port?: number } = {};
  if (socket.address && socket.address.length <= RecordLimits.address) out.address = socket.address;
  if (Number.isInteger(socket.port_value) && socket.port_value > 0 && socket.port_value <= 65535)
    out.port = socket.port_value;
  return out;
};

/** The first SPIFFE URI SAN of a certificate (Envoy lists the verified peer's here). */
const spiffeOf = (c: CertificateProperties): string | undefined => {
  for (const san of c?.subject_alt_name ?? []) {
    const uri = san.uri;
    if (uri && uri.startsWith('spiffe://') && uri.length <= RecordLimits.principal) return uri;
  }
  return undefined;
};

/** Principals already parsed: a mesh has few identities and each calls many times. */
const identities = new Map<string, { namespace: string; serviceAccount: string } | null>();
const MAX_IDENTITIES = 10_000;

/** An endpoint from a SPIFFE ID: Istio's shape names the namespace and, by its service account, the workload. */
const endpointOfPrincipal = (principal: string | undefined): Endpoint => {
  if (!principal) return {};
  let identity = identities.get(principal);
  if (identity === undefined) {
    if (identities.size >= MAX_IDENTITIES) identities.clear();
    const parsed = istioIdentityOf(principal);
    identity = parsed ? { namespace: parsed.namespace, serviceAccount: parsed.serviceAccount } : null;
    identities.set(principal, identity);
  }
  const out: Endpoint = { principal };
  if (identity) {
    out.namespace = identity.namespace;
    out.workload = identity.serviceAccount;
  }
  return out;
};

/**
 * The node a stream comes from, as an endpoint: Istio's sidecars put `NAMESPACE` and
 * `WORKLOAD_NAME` (and the pod's labels, `app` among them) in the node metadata; a node id of
 * Istio's form `sidecar~<ip>~<pod>.<namespace>~…` names the namespace too.
 */
export function nodeEndpoint(node: AlsNode): Endpoint {
  const metadata = node?.metadata;
  const labels = metadata?.fields?.['LABELS']?.structValue;
  const namespace =
    namespaceOrNone(stringField(metadata, 'NAMESPACE')) ??
    namespaceOrNone(/^[^~]+~[^~]*~[^.~]+\.([^.~]+)~/.exec(node?.id ?? '')?.[1]);
  const workload =
    nameOrNone(stringField(labels, 'app')) ?? nameOrNone(stringField(metadata, 'WORKLOAD_NAME'));
  const out: Endpoint = {};
  if (namespace) out.namespace = namespace;
  if (workload) out.workload = workload;
  return out;
}

/** Istio's cluster names: `outbound|<port>|<subset>|<host>` or `inbound|<port>||<host>`. */
const clusterOf = (cluster: string | undefined): { direction: 'inbound' | 'outbound'; host?: string } => {
  const parts = (cluster ?? '').split('|');
  if (parts[0] === 'outbound') return { direction: 'outbound', ...(parts[3] ? { host: parts[3] } : {}) };
  return { direction: 'inbound' };
};

/** A Kubernetes service host `<service>.<namespace>.svc[.<domain>]` as an endpoint. */
const endpointOfHost = (host: string | undefined): Endpoint => {
  const match = /^([^.]+)\.([^.]+)\.svc(\.|$)/.exec(host ?? '');
  const out: Endpoint = {};
  const namespace = namespaceOrNone(match?.[2]);
  const workload = nameOrNone(match?.[1]);
  if (namespace) out.namespace = namespace;
  if (workload) out.workload = workload;
  return out;
};

/** The endpoint each member of which comes from the first part that has it. */
const merge = (...parts: Endpoint[]): Endpoint => {
  const out: Endpoint = {};
  for (const part of parts) {
    if (out.namespace === undefined && part.namespace !== undefined) out.namespace = part.namespace;
    if (out.workload === undefined && part.workload !== undefined) out.workload = part.workload;
    if (out.principal === undefined && part.principal !== undefined) out.principal = part.principal;
    if (out.address === undefined && part.address !== undefined) out.address = part.address;
    if (out.port === undefined && part.port !== undefined) out.port = part.port;
  }
  return out;
};

/**
 * Both sides of a call. An inbound entry (the node is the callee; Envoy's verified peer
 * certificate names the caller) or an outbound one (the node is the caller; the upstream
 * cluster names the callee's service). What Envoy did not verify is not claimed: the
 * caller's principal comes only from the peer certificate.
 */
function sidesOf(common: AlsCommon, context: AlsStreamContext): { source: Endpoint; destination: Endpoint } {
  const cluster = clusterOf(common?.upstream_cluster);
  const tls = common?.tls_properties;
  if (cluster.direction === 'outbound') {
    return {
      source: merge(context.node, endpointOfPrincipal(spiffeOf(tls?.local_certificate_properties))),
      destination: merge(endpointOfHost(cluster.host), socketOf(common?.upstream_remote_address)),
    };
  }
  return {
    source: merge(
      endpointOfPrincipal(spiffeOf(tls?.peer_certificate_properties)),
      socketOf(common?.downstream_remote_address),
    ),
    destination: merge(
      context.node,
      endpointOfPrincipal(spiffeOf(tls?.local_certificate_properties)),
      socketOf(common?.downstream_local_address),
    ),
  };
}

const METHOD = /^[A-Z]{1,32}$/;

function httpRecord(entry: AlsHttpEntry, context: AlsStreamContext, now: () => Date): AccessRecord {
  const common = entry.common_properties;
  const grpc = (entry.request?.request_headers?.['content-type'] ?? '').startsWith('application/grpc');
  const record: AccessRecord = {
    time: timeOf(common?.start_time, now),
    ...sidesOf(common, context),
    protocol: grpc ? 'grpc' : 'http',
  };
  const method = entry.request?.request_method;
  if (method && method !== 'METHOD_UNSPECIFIED' && METHOD.test(method)) record.method = method;
  const path = entry.request?.path;
  if (path) record.path = path.slice(0, RecordLimits.path);
  const status = entry.response?.response_code?.value;
  if (status !== undefined && Number.isInteger(status) && status >= 0 && status <= 999)
    record.status = status;
  const duration = millisOf(common?.duration) ?? millisOf(common?.time_to_last_downstream_tx_byte);
  if (duration !== undefined) record.durationMs = duration;
  // From the callee's side: what it received is the request, what it sent the response.
  record.bytesReceived = num(entry.request?.request_headers_bytes) + num(entry.request?.request_body_bytes);
  record.bytesSent = num(entry.response?.response_headers_bytes) + num(entry.response?.response_body_bytes);
  return record;
}

function tcpRecord(entry: AlsTcpEntry, context: AlsStreamContext, now: () => Date): AccessRecord {
  const common = entry.common_properties;
  const record: AccessRecord = {
    time: timeOf(common?.start_time, now),
    ...sidesOf(common, context),
    protocol: 'tcp',
  };
  const duration = millisOf(common?.duration);
  if (duration !== undefined) record.durationMs = duration;
  record.bytesReceived = num(entry.connection_properties?.received_bytes);
  record.bytesSent = num(entry.connection_properties?.sent_bytes);
  return record;
}

export type AlsTranslation = { records: AccessRecord[]; skipped: number; context: AlsStreamContext };

/**
 * One `StreamAccessLogsMessage` into access records. The stream's context (its node) comes from the
 * first message and is kept for the rest; pass back what the previous call returned. Intermediate
 * entries of long-lived connections are skipped (counted): the final entry carries the totals.
 */
export function translateAls(
  message: AlsMessage,
  previous: AlsStreamContext | undefined,
  now: () => Date = () => new Date(),
): AlsTranslation {
  const context = message.identifier?.node
    ? { node: nodeEndpoint(message.identifier.node) }
    : (previous ?? { node: {} });
  const records: AccessRecord[] = [];
  let skipped = 0;
  for (const entry of message.http_logs?.log_entry ?? []) {
    if (entry.common_properties?.intermediate_log_entry) skipped++;
    else records.push(httpRecord(entry, context, now));
  }
  for (const entry of message.tcp_logs?.log_entry ?? []) {
    if (entry.common_properties?.intermediate_log_entry) skipped++;
    else records.push(tcpRecord(entry, context, now));
  }
  return { records, skipped, context };
}

export type { Protocol };
