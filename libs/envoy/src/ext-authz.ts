/**
 * Envoy's ext_authz API (`envoy.service.auth.v3.Authorization/Check`) as pure translation: a
 * `CheckRequest`, as @grpc/proto-loader decodes it with `loaderOptions`, becomes the attributes
 * `@warden/policy-engine` decides on, and a decision becomes the `CheckResponse`. No transport
 * here: the enforcer's gRPC server is a shell around these two functions.
 */
import { istioIdentityOf } from '@warden/pki';
import type { AuthzRequest, Decision, DecisionResponse } from '@warden/policy-engine';

type Timestamp = { seconds?: string | number; nanos?: number };
type SocketAddress = { address?: string; port_value?: number };
type Address = { socket_address?: SocketAddress | null };
export type CheckPeer = {
  address?: Address | null;
  principal?: string;
  service?: string;
  labels?: Record<string, string>;
  /** The peer's certificate, URL-encoded PEM (Envoy's `include_peer_certificate`). */
  certificate?: string;
};
type HeaderValue = { key?: string; value?: string; raw_value?: Uint8Array | string };
export type CheckHttpRequest = {
  id?: string;
  method?: string;
  headers?: Record<string, string>;
  header_map?: { headers?: HeaderValue[] } | null;
  path?: string;
  host?: string;
  scheme?: string;
  query?: string;
  fragment?: string;
  size?: string | number;
  protocol?: string;
  body?: string;
  raw_body?: Uint8Array | string;
};
export type CheckRequest = {
  attributes?: {
    source?: CheckPeer | null;
    destination?: CheckPeer | null;
    request?: { time?: Timestamp | null; http?: CheckHttpRequest | null } | null;
    context_extensions?: Record<string, string>;
    tls_session?: { sni?: string } | null;
  } | null;
};

/** The keys Warden's own Envoy configuration sets in `context_extensions` on each listener. */
export const ContextKey = {
  namespace: 'warden.namespace',
  /** Prefix of one key per workload label: `warden.label.app` = `cart`. */
  labelPrefix: 'warden.label.',
} as const;

export type CheckRequestOptions = {
  /**
   * The destination workload's labels when the listener's context extensions do not carry them
   * (an Envoy configured by someone else): looked up in the registry by namespace and identity.
   */
  labelsFor?: (namespace: string, principal: string | undefined) => Record<string, string> | undefined;
};

export type Translated =
  | {
      ok: true;
      request: AuthzRequest;
      /** The source's certificate as PEM, when Envoy sent it: the decision point checks its revocation. */
      peerCertificate?: string;
    }
  | { ok: false; reason: string };

/**
 * What the request asks, or why it cannot be read (the caller denies with `invalid_request`).
 * The destination's namespace comes from the listener's context extensions, else from its own
 * SPIFFE ID; without one the policies that apply cannot be known.
 */
export function toAuthzRequest(check: CheckRequest, options: CheckRequestOptions = {}): Translated {
  const attributes = check.attributes;
  if (!attributes) return { ok: false, reason: 'the request has no attributes' };
  const destination = attributes.destination ?? {};
  const extensions = attributes.context_extensions ?? {};
  const principal = nonEmpty(destination.principal);
  const namespace = nonEmpty(extensions[ContextKey.namespace]) ?? istioIdentityOf(principal)?.namespace;
  if (!namespace)
    return {
      ok: false,
      reason: `the destination's namespace is unknown: no ${ContextKey.namespace} context extension and no SPIFFE ID`,
    };
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(extensions))
    if (key.startsWith(ContextKey.labelPrefix)) labels[key.slice(ContextKey.labelPrefix.length)] = value;
  const looked = Object.keys(labels).length === 0 ? options.labelsFor?.(namespace, principal) : undefined;

  const request: AuthzRequest = {
    destination: {
      namespace,
      labels: looked ?? labels,
      ...socket(destination.address),
      ...(principal ? { principal } : {}),
    },
  };
  const source = attributes.source;
  if (source) {
    const sourcePrincipal = nonEmpty(source.principal);
    request.source = {
      ...socket(source.address),
      ...(sourcePrincipal ? { principal: sourcePrincipal } : {}),
    };
  }
  let peerCertificate: string | undefined;
  const encoded = nonEmpty(source?.certificate);
  if (encoded) {
    try {
      peerCertificate = decodeURIComponent(encoded);
    } catch {
      return { ok: false, reason: 'the peer certificate is not URL-encoded PEM' };
    }
  }
  const sni = nonEmpty(attributes.tls_session?.sni);
  if (sni) request.connection = { sni };

  const time = attributes.request?.time;
  if (time) {
    const seconds = Number(time.seconds ?? 0);
    if (!Number.isFinite(seconds))
      return { ok: false, reason: `request time ${String(time.seconds)} is not a number` };
    request.time = new Date(seconds * 1000 + Math.floor((time.nanos ?? 0) / 1e6));
  }

  const http = attributes.request?.http;
  if (http) {
    const method = nonEmpty(http.method);
    if (!method) return { ok: false, reason: 'the HTTP request has no method' };
    const path = nonEmpty(http.path);
    if (!path) return { ok: false, reason: 'the HTTP request has no path' };
    const headers = headerMap(http);
    const body = bodyOf(http);
    request.http = {
      method,
      path,
      headers,
      ...(nonEmpty(http.host) ? { host: http.host } : {}),
      ...(body !== undefined ? { body } : {}),
    };
  }
  return { ok: true, request, ...(peerCertificate ? { peerCertificate } : {}) };
}

function nonEmpty(value: string | undefined | null): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : value;
}

function socket(address: Address | null | undefined): { ip?: string; port?: number } {
  const s = address?.socket_address;
  if (!s) return {};
  return {
    ...(nonEmpty(s.address) ? { ip: s.address } : {}),
    ...(s.port_value ? { port: s.port_value } : {}),
  };
}

const decoder = new TextDecoder();

/**
 * Envoy sends either `headers` (a map whose repeated headers are already joined with commas) or,
 * with `encode_raw_headers`, `header_map` with bytes values: both become one map with lower-case
 * names, repeated names joined as Envoy joins them.
 */
function headerMap(http: CheckHttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (name: string, value: string): void => {
    const key = name.toLowerCase();
    out[key] = out[key] === undefined ? value : `${out[key]},${value}`;
  };
  const raw = http.header_map?.headers ?? [];
  if (raw.length > 0) {
    for (const h of raw) {
      if (!h.key) continue;
      const value = h.raw_value !== undefined && h.raw_value.length > 0 ? text(h.raw_value) : (h.value ?? '');
      add(h.key, value);
    }
    return out;
  }
  for (const [name, value] of Object.entries(http.headers ?? {})) add(name, value);
  return out;
}

function bodyOf(http: CheckHttpRequest): string | undefined {
  if (http.raw_body !== undefined && http.raw_body.length > 0) return text(http.raw_body);
  return nonEmpty(http.body);
}

const text = (value: Uint8Array | string): string =>
  typeof value === 'string' ? value : decoder.decode(value);

type HeaderValueOption = { header: { key: string; value: string } };
export type CheckResponse = {
  status: { code: number; message: string };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
  ok_response?: {
    headers: HeaderValueOption[];
    headers_to_remove: string[];
    response_headers_to_add: HeaderValueOption[];
  };
};

/** gRPC status codes Envoy reads: OK lets the request through, PERMISSION_DENIED refuses it. */
export const GrpcCode = { ok: 0, permissionDenied: 7 } as const;
/** The header a denial carries its reason code in: the code only, never the policy's name. */
export const DENY_REASON_HEADER = 'x-warden-deny-reason';

/** As OPA-Envoy sends them: no `append`, so Envoy adds the header or overwrites one of that name. */
const option = ([key, value]: [string, string]): HeaderValueOption => ({ header: { key, value } });

/**
 * The answer Envoy enforces. A denial is 403 unless a Rego decision object says otherwise, and
 * names its reason code in `x-warden-deny-reason`, so a caller can tell a policy denial from a
 * failure (`invalid_request`, `no_revision`) without learning which policy decided.
 */
export function toCheckResponse(
  decision: Pick<Decision, 'allowed' | 'reason'>,
  object?: DecisionResponse,
): CheckResponse {
  if (decision.allowed)
    return {
      status: { code: GrpcCode.ok, message: '' },
      ok_response: {
        headers: (object?.headers ?? []).map(option),
        headers_to_remove: object?.requestHeadersToRemove ?? [],
        response_headers_to_add: (object?.responseHeadersToAdd ?? []).map(option),
      },
    };
  return {
    status: { code: GrpcCode.permissionDenied, message: decision.reason },
    denied_response: {
      status: { code: object?.httpStatus ?? 403 },
      headers: [...(object?.headers ?? []), [DENY_REASON_HEADER, decision.reason] as [string, string]].map(
        option,
      ),
      body: object?.body ?? '',
    },
  };
}
