/**
 * Builds the input document OPA's Envoy plugin gives a policy (opa-envoy-plugin
 * `envoyauth/request.go`), so an existing OPA-Envoy policy runs unchanged:
 *
 *   input.attributes.source.address.socketAddress.{address,portValue}, .source.principal
 *   input.attributes.destination.address.socketAddress.{address,portValue}, .destination.principal
 *   input.attributes.request.time        {seconds, nanos}
 *   input.attributes.request.http.{method,path,host,headers,body,size}
 *   input.source_principal  the source principal again, when there is one
 *   input.parsed_path    ["api", "v1", "users"]   (see go-url.ts: `/a%2Fb` is ["a", "b"])
 *   input.parsed_query   {"limit": ["10"]}
 *   input.parsed_body    JSON, form or multipart body, unless truncated
 *   input.truncated_body true when the body was cut by Envoy or is over the limit
 *   input.version        {"encoding": "protojson", "ext_authz": "v3"}
 *
 * The plugin (since v1.2.0-envoy-2) turns the CheckRequest into a map with protoreflect (its
 * `protomap`), not protojson: keys are the JSON names (`socketAddress`, `portValue`), only
 * populated fields appear (a port 0 or an empty string is absent), int64 fields such as
 * `http.size` are numbers, and the `request.time` Timestamp is `{seconds, nanos}`, not RFC 3339.
 * A path, query or body the plugin cannot parse fails the check request (400 / denied): here it
 * throws `InvalidRequestError`, which the decision point turns into a denial.
 *
 * Addresses go through `normalizeIp`, so an IPv4-mapped peer (`::ffff:10.0.0.1`) is `10.0.0.1`,
 * as Envoy reports it. The golden files in testdata/envoy-input/ pin every edge case.
 */
import { InvalidRequestError } from '../errors.ts';
import type { AuthzRequest } from '../authz/model.ts';
import { normalizeIp } from './address.ts';
import { GoUrlError, parsePathAndQuery, parseQuery } from './go-url.ts';

export type EnvoyInputOptions = {
  /**
   * Largest body that is parsed into `parsed_body`; a larger one is marked truncated, as Envoy's
   * `max_request_bytes` would have cut it. Default 64 KiB.
   */
  maxBodyBytes?: number;
};

type SocketAddress = { socketAddress: { address?: string; portValue?: number } };
type Peer = { address?: SocketAddress; principal?: string };

export type EnvoyInput = {
  attributes: {
    source: Peer;
    destination: Peer;
    request: {
      time?: { seconds?: number; nanos?: number };
      http?: {
        method: string;
        path: string;
        host?: string;
        headers: Record<string, string>;
        body?: string;
        size?: number;
      };
    };
  };
  source_principal?: string;
  parsed_path: string[];
  parsed_query: Record<string, string[]>;
  parsed_body: unknown;
  truncated_body: boolean;
  version: { encoding: 'protojson'; ext_authz: 'v3' };
};

function address(ip: string | undefined, port: number | undefined): SocketAddress | undefined {
  const socketAddress: SocketAddress['socketAddress'] = {};
  if (ip) socketAddress.address = normalizeIp(ip);
  if (port) socketAddress.portValue = port;
  return socketAddress.address === undefined && socketAddress.portValue === undefined
    ? undefined
    : { socketAddress };
}

function peer(ip: string | undefined, port: number | undefined, principal: unknown): Peer {
  const out: Peer = {};
  const a = address(ip, port);
  if (a) out.address = a;
  if (typeof principal === 'string' && principal !== '')
    out.principal = principal.startsWith('spiffe://') ? principal : `spiffe://${principal}`;
  return out;
}

/** A Timestamp as protoreflect gives it: `{seconds, nanos}`, zero fields absent. */
function timestamp(time: string | Date): { seconds?: number; nanos?: number } {
  let ms: number;
  let nanos: number;
  if (time instanceof Date) {
    ms = time.getTime();
    nanos = (((ms % 1000) + 1000) % 1000) * 1_000_000;
  } else {
    ms = Date.parse(time);
    const fraction = /T\d\d:\d\d:\d\d\.(\d+)/.exec(time)?.[1];
    nanos = fraction === undefined ? 0 : Number(fraction.slice(0, 9).padEnd(9, '0'));
  }
  if (Number.isNaN(ms)) throw new InvalidRequestError('time is not a valid date');
  const seconds = Math.floor(ms / 1000);
  const out: { seconds?: number; nanos?: number } = {};
  if (seconds !== 0) out.seconds = seconds;
  if (nanos !== 0) out.nanos = nanos;
  return out;
}

/** Go's `strconv.ParseInt(s, 10, 64)`, as the plugin reads `content-length`. */
function contentLength(value: string): number {
  if (!/^[+-]?\d+$/.test(value) || Math.abs(Number(value)) > Number.MAX_SAFE_INTEGER)
    throw new InvalidRequestError(`content-length ${JSON.stringify(value)} is not an integer`);
  return Number(value);
}

/** The plugin's `getParsedBody`: `{parsed, truncated}` for the body and headers of a request. */
function parseBody(
  body: string,
  headers: Record<string, string>,
  maxBodyBytes: number,
): { parsed: unknown; truncated: boolean } {
  if (headers['x-envoy-auth-partial-body'] === 'true') return { parsed: null, truncated: true };
  if (Buffer.byteLength(body, 'utf8') > maxBodyBytes) return { parsed: null, truncated: true };
  const type = headers['content-type'];
  if (type === undefined || body === '') return { parsed: null, truncated: false };
  const kind = type.includes('application/json')
    ? 'json'
    : type.includes('application/grpc')
      ? 'grpc'
      : type.includes('application/x-www-form-urlencoded')
        ? 'form'
        : type.includes('multipart/form-data')
          ? 'multipart'
          : 'other';
  // gRPC bodies need the service's descriptors (the plugin's proto set), which Warden has not.
  if (kind === 'grpc' || kind === 'other') return { parsed: null, truncated: false };
  const length = headers['content-length'];
  if (length !== undefined) {
    const cl = contentLength(length);
    if (cl !== -1 && cl > Buffer.byteLength(body, 'utf8')) return { parsed: null, truncated: true };
  }
  if (kind === 'json') {
    try {
      return { parsed: JSON.parse(body) as unknown, truncated: false };
    } catch {
      throw new InvalidRequestError('body is not valid JSON although content-type says so');
    }
  }
  if (kind === 'form') {
    try {
      return { parsed: parseQuery(body), truncated: false };
    } catch (e) {
      throw new InvalidRequestError(`form body: ${(e as Error).message}`);
    }
  }
  return { parsed: parseMultipart(body, type), truncated: false };
}

export function buildEnvoyInput(request: AuthzRequest, options: EnvoyInputOptions = {}): EnvoyInput {
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const source = peer(request.source?.ip, request.source?.port, request.source?.principal);
  const destination = peer(request.destination.ip, request.destination.port, request.destination.principal);

  const input: EnvoyInput = {
    attributes: { source, destination, request: {} },
    parsed_path: [''],
    parsed_query: {},
    parsed_body: null,
    truncated_body: false,
    version: { encoding: 'protojson', ext_authz: 'v3' },
  };
  if (source.principal !== undefined) input.source_principal = source.principal;
  if (request.time !== undefined) input.attributes.request.time = timestamp(request.time);
  const http = request.http;
  if (!http) return input;

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(http.headers ?? {})) {
    const key = name.toLowerCase();
    const joined = Array.isArray(value) ? value.join(',') : value;
    headers[key] = headers[key] === undefined ? joined : `${headers[key]},${joined}`;
  }
  // Envoy keeps HTTP/1's Host header as the :authority pseudo-header, and has no `host` header.
  if (headers.host !== undefined) {
    headers[':authority'] ??= headers.host;
    delete headers.host;
  }
  const host = http.host ?? headers[':authority'] ?? '';
  // Envoy's CheckRequest carries the pseudo-headers in the header map too.
  headers[':method'] ??= http.method;
  headers[':path'] ??= http.path;
  if (host) headers[':authority'] ??= host;
  try {
    const { parsedPath, parsedQuery } = parsePathAndQuery(http.path);
    input.parsed_path = parsedPath;
    input.parsed_query = parsedQuery;
  } catch (e) {
    if (e instanceof GoUrlError)
      throw new InvalidRequestError(`path ${JSON.stringify(http.path)}: ${e.message}`);
    throw e;
  }
  input.attributes.request.http = { method: http.method, path: http.path, headers };
  if (host) input.attributes.request.http.host = host;
  if (http.body !== undefined && http.body !== '') {
    input.attributes.request.http.body = http.body;
    input.attributes.request.http.size = Buffer.byteLength(http.body, 'utf8');
  }
  const { parsed, truncated } = parseBody(http.body ?? '', headers, maxBodyBytes);
  input.parsed_body = parsed;
  input.truncated_body = truncated;
  return input;
}

/** The parameters of a media type (`mime.ParseMediaType`); throws on a malformed one. */
function mediaParams(value: string): { type: string; params: Map<string, string> } {
  const [type = '', ...rest] = value.split(';');
  const params = new Map<string, string>();
  let text = rest.join(';');
  const param = /^\s*([!#$%&'*+.^`|~\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([!#$%&'*+.^`|~\w-]+))\s*(?:;|$)/;
  while (text.trim() !== '') {
    const m = param.exec(text);
    if (!m) throw new InvalidRequestError(`content-type ${JSON.stringify(value)} has a malformed parameter`);
    const name = (m[1] ?? '').toLowerCase();
    if (params.has(name))
      throw new InvalidRequestError(`content-type ${JSON.stringify(value)} repeats ${name}`);
    params.set(name, m[2] === undefined ? (m[3] ?? '') : m[2].replace(/\\(.)/g, '$1'));
    text = text.slice(m[0].length);
  }
  return { type: type.trim().toLowerCase(), params };
}

/**
 * A `multipart/form-data` body as the plugin reads it with Go's `mime/multipart`: every part with
 * a form name gives `{name: [value, ...]}`, a JSON part parsed, any other part as text. A body Go
 * would reject (no final boundary, a broken part header) throws.
 */
function parseMultipart(body: string, contentType: string): Record<string, unknown[]> | null {
  const boundary = mediaParams(contentType).params.get('boundary');
  if (boundary === undefined) return null;
  const bad = (why: string): never => {
    throw new InvalidRequestError(`multipart body: ${why}`);
  };
  const delimiter = `--${boundary}`;
  let at = body.startsWith(delimiter) ? 0 : body.indexOf(`\n${delimiter}`);
  if (at === -1) bad('no boundary');
  if (at > 0) at += 1;
  const values = new Map<string, unknown[]>();
  for (;;) {
    at += delimiter.length;
    if (body.startsWith('--', at)) break;
    const eol = /^[ \t]*\r?\n/.exec(body.slice(at));
    if (!eol) bad('a boundary line has trailing text');
    at += eol?.[0].length ?? 0;
    const next = body.indexOf(`\n${delimiter}`, at);
    if (next === -1) bad('no final boundary');
    const part = body.slice(at, body[next - 1] === '\r' ? next - 1 : next);
    at = next + 1;
    const split = /\r?\n\r?\n/.exec(part);
    const headerText =
      part.startsWith('\r\n') || part.startsWith('\n')
        ? ''
        : split
          ? part.slice(0, split.index)
          : bad('a part has no header end');
    const content =
      headerText === ''
        ? part.replace(/^\r?\n/, '')
        : part.slice((split?.index ?? 0) + (split?.[0].length ?? 0));
    const headers = new Map<string, string>();
    for (const line of headerText.split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon <= 0) bad(`malformed part header ${JSON.stringify(line)}`);
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const disposition = headers.get('content-disposition');
    if (disposition === undefined) continue;
    let parsedDisposition: ReturnType<typeof mediaParams>;
    try {
      parsedDisposition = mediaParams(disposition);
    } catch {
      continue;
    }
    const name = parsedDisposition.type === 'form-data' ? parsedDisposition.params.get('name') : undefined;
    if (!name) continue;
    let value: unknown = content;
    if (headers.get('content-type')?.includes('application/json')) {
      try {
        value = JSON.parse(content) as unknown;
      } catch {
        bad(`part ${JSON.stringify(name)} is not valid JSON`);
      }
    }
    const list = values.get(name);
    if (list) list.push(value);
    else values.set(name, [value]);
  }
  return Object.fromEntries(values);
}
