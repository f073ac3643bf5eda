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
import { GoUrlError, parsePathAndQuery, parseQuery, pathUnescape } from './go-url.ts';
import { decodeQuotedPrintable } from './quoted-printable.ts';

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

/**
 * A JSON body as OPA's `util.UnmarshalJSON` reads it (one value, nothing after it). OPA keeps
 * numbers exact; a number JavaScript cannot hold at all (`1e400`) would silently become `null` in
 * the Wasm input, so it fails the request instead (integers beyond 2^53 do lose precision).
 */
function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text, (_key, value: unknown) => {
      if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError('number out of range');
      return value;
    }) as unknown;
  } catch (e) {
    throw new InvalidRequestError(
      `${what} is not JSON Warden can read although content-type says so: ${(e as Error).message}`,
    );
  }
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
  if (kind === 'json') return { parsed: parseJson(body, 'body'), truncated: false };
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
    const v = m[2] === undefined ? (m[3] ?? '') : m[2].replace(/\\(.)/g, '$1');
    // Go allows a repeated parameter only with the same value.
    if (params.has(name) && params.get(name) !== v)
      throw new InvalidRequestError(`content-type ${JSON.stringify(value)} repeats ${name}`);
    params.set(name, v);
    text = text.slice(m[0].length);
  }
  // RFC 2231, as Go reads it: `name*=utf-8''%C3%A9` and continuations `name*0=`, `name*1*=`.
  const unescape = (v: string): string | undefined => {
    try {
      return pathUnescape(v);
    } catch {
      return undefined;
    }
  };
  const decodeExtended = (v: string): string | undefined => {
    const parts = v.split("'");
    if (parts.length < 3) return undefined;
    const charset = (parts[0] ?? '').toLowerCase();
    if (charset !== 'us-ascii' && charset !== 'utf-8') return undefined;
    return unescape(parts.slice(2).join("'"));
  };
  const starred = new Set(
    [...params.keys()].filter((k) => k.includes('*')).map((k) => k.slice(0, k.indexOf('*'))),
  );
  for (const base of starred) {
    const single = params.get(`${base}*`);
    if (single !== undefined) {
      const decoded = decodeExtended(single);
      if (decoded !== undefined) params.set(base, decoded);
      continue;
    }
    let joined = '';
    let valid = false;
    for (let n = 0; ; n++) {
      const plain = params.get(`${base}*${n}`);
      if (plain !== undefined) {
        valid = true;
        joined += plain;
        continue;
      }
      const encoded = params.get(`${base}*${n}*`);
      if (encoded === undefined) break;
      valid = true;
      joined += (n === 0 ? decodeExtended(encoded) : unescape(encoded)) ?? '';
    }
    if (valid) params.set(base, joined);
  }
  return { type: type.trim().toLowerCase(), params };
}

/**
 * A `multipart/form-data` body as the plugin reads it with Go's `mime/multipart` `Reader`: every
 * part with a form name gives `{name: [value, ...]}`, a JSON part parsed, any other part as text.
 * The walk follows Go's reader: the newline style (CRLF or LF) is taken from the first boundary
 * line, a part ends at newline + `--boundary`, a body without its final boundary or with a stray
 * line between parts is an error (the plugin then refuses the request). A part sent with
 * `Content-Transfer-Encoding: quoted-printable` is decoded, as Go's `NextPart` does. Not
 * reproduced: Go's 4 KiB line limit in the preamble.
 */
function parseMultipart(body: string, contentType: string): Record<string, unknown[]> | null {
  const boundary = mediaParams(contentType).params.get('boundary');
  if (boundary === undefined) return null;
  const fail = (why: string): never => {
    throw new InvalidRequestError(`multipart body: ${why}`);
  };
  if (boundary === '') fail('boundary is empty');
  const dashBoundary = `--${boundary}`;
  const dashBoundaryDash = `${dashBoundary}--`;
  let nl = '\r\n';
  let pos = 0;
  let partsRead = 0;
  const skipLwsp = (s: string): string => s.replace(/^[ \t]*/, '');
  const isFinal = (line: string): boolean => {
    if (!line.startsWith(dashBoundaryDash)) return false;
    const rest = skipLwsp(line.slice(dashBoundaryDash.length));
    return rest === '' || rest === nl;
  };
  const isDelimiter = (line: string): boolean => {
    if (!line.startsWith(dashBoundary)) return false;
    const rest = skipLwsp(line.slice(dashBoundary.length));
    if (partsRead === 0 && rest === '\n') nl = '\n';
    return rest === nl;
  };
  const readLine = (): { line: string; eof: boolean } => {
    const end = body.indexOf('\n', pos);
    const line = end === -1 ? body.slice(pos) : body.slice(pos, end + 1);
    pos += line.length;
    return { line, eof: end === -1 };
  };
  // Go's matchAfterPrefix: +1 the boundary is there, -1 it is not, 0 more input is needed.
  const afterPrefix = (buf: string, prefix: string, atEnd: boolean): number => {
    if (buf.length === prefix.length) return atEnd ? 1 : 0;
    const c = buf[prefix.length];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') return 1;
    if (c === '-') {
      if (buf.length === prefix.length + 1) return atEnd ? -1 : 0;
      if (buf[prefix.length + 1] === '-') return 1;
    }
    return -1;
  };
  // Go's scanUntilBoundary over the rest of the body: [data length, 'eof' | 'unexpected' | null].
  const scan = (total: number, atEnd: boolean): [number, 'eof' | 'unexpected' | null] => {
    const buf = body.slice(pos);
    const readErr = atEnd ? 'unexpected' : null;
    const nlDashBoundary = nl + dashBoundary;
    if (total === 0) {
      if (buf.startsWith(dashBoundary)) {
        const m = afterPrefix(buf, dashBoundary, atEnd);
        if (m === -1) return [dashBoundary.length, null];
        if (m === 0) return [0, null];
        return [0, 'eof'];
      }
      if (dashBoundary.startsWith(buf)) return [0, readErr];
    }
    const i = buf.indexOf(nlDashBoundary);
    if (i >= 0) {
      const m = afterPrefix(buf.slice(i), nlDashBoundary, atEnd);
      if (m === -1) return [i + nlDashBoundary.length, null];
      if (m === 0) return [i, null];
      return [i, 'eof'];
    }
    if (nlDashBoundary.startsWith(buf)) return [0, readErr];
    const j = buf.lastIndexOf(nlDashBoundary[0] ?? '\n');
    if (j >= 0 && nlDashBoundary.startsWith(buf.slice(j))) return [j, null];
    return [buf.length, readErr];
  };
  /** Reads the current part's content; `strict` false (Go's Close) ignores a missing boundary. */
  const readPart = (strict: boolean): string => {
    let data = '';
    let total = 0;
    let atEnd = false;
    for (;;) {
      const [n, err] = scan(total, atEnd);
      if (n === 0 && err === null) {
        atEnd = true;
        continue;
      }
      data += body.slice(pos, pos + n);
      pos += n;
      total += n;
      if (err === 'eof') return data;
      if (err === 'unexpected') return strict ? fail('unexpected EOF') : data;
    }
  };
  /**
   * textproto.ReadMIMEHeader: lines up to an empty one (CRLF or LF), continuation lines joined
   * with a space, a first line without a colon or a control byte in a value an error, a name with
   * a space kept but never looked up (Go does not canonicalise it).
   */
  const readHeaders = (): Map<string, string> => {
    const headers = new Map<string, string>();
    const spaceTab = (t: string): string => t.replace(/^[ \t]+|[ \t]+$/g, '');
    const lines: string[] = [];
    for (;;) {
      const end = body.indexOf('\n', pos);
      if (end === -1) fail('unexpected EOF in part headers');
      const line = body.slice(pos, end).replace(/\r$/, '');
      pos = end + 1;
      if (line === '') break;
      if (/^[ \t]/.test(line)) {
        if (lines.length === 0) fail(`malformed MIME header initial line: ${JSON.stringify(line)}`);
        lines[lines.length - 1] += ` ${spaceTab(line)}`;
        continue;
      }
      if (!line.includes(':')) fail(`malformed MIME header: missing colon: ${JSON.stringify(line)}`);
      lines.push(spaceTab(line));
    }
    for (const line of lines) {
      const colon = line.indexOf(':');
      const key = line.slice(0, colon);
      const value = line.slice(colon + 1);
      if (
        !/^[!#$%&'*+.^`|~\w -]+$/.test(key) ||
        [...value].some((c) => (c < ' ' && c !== '\t') || c === '\x7f')
      )
        fail(`malformed MIME header line: ${JSON.stringify(line)}`);
      const name = key.toLowerCase();
      if (!key.includes(' ') && !headers.has(name)) headers.set(name, value.replace(/^[ \t]+/, ''));
    }
    return headers;
  };

  const values = new Map<string, unknown[]>();
  let inPart = false;
  for (;;) {
    // Go's NextPart first drains the part the caller did not read (Part.Close).
    if (inPart) readPart(false);
    let expectNewPart = false;
    let headers: Map<string, string> | undefined;
    for (;;) {
      const { line, eof } = readLine();
      if (eof && isFinal(line)) break;
      if (eof) fail('NextPart: EOF');
      if (isDelimiter(line)) {
        partsRead += 1;
        headers = readHeaders();
        break;
      }
      if (isFinal(line)) break;
      if (expectNewPart) fail(`expecting a new Part; got line ${JSON.stringify(line)}`);
      if (partsRead === 0) continue;
      if (line === nl) {
        expectNewPart = true;
        continue;
      }
      fail(`unexpected line in Next(): ${JSON.stringify(line)}`);
    }
    if (!headers) break;
    inPart = true;
    let disposition: { type: string; params: Map<string, string> } | undefined;
    try {
      disposition = mediaParams(headers.get('content-disposition') ?? '');
    } catch {
      disposition = undefined;
    }
    const name = disposition?.type === 'form-data' ? disposition.params.get('name') : undefined;
    const quotedPrintable = headers.get('content-transfer-encoding')?.toLowerCase() === 'quoted-printable';
    const decoded = (raw: string): string => {
      try {
        return Buffer.from(decodeQuotedPrintable(Buffer.from(raw, 'utf8'))).toString('utf8');
      } catch (err) {
        return fail(err instanceof Error ? err.message : String(err));
      }
    };
    if (!name) {
      if (quotedPrintable) {
        // Go drains a skipped part through its decoder and stops at a decoding error; past its
        // 4 KiB read-ahead the reader is then left inside the part. Refused rather than guessed.
        const raw = readPart(false);
        inPart = false;
        if (raw.length > 4096) decoded(raw);
      }
      continue;
    }
    const raw = readPart(true);
    inPart = false;
    const content = quotedPrintable ? decoded(raw) : raw;
    let value: unknown = content;
    if (headers.get('content-type')?.includes('application/json'))
      value = parseJson(content, `multipart part ${JSON.stringify(name)}`);
    const list = values.get(name);
    if (list) list.push(value);
    else values.set(name, [value]);
  }
  return Object.fromEntries(values);
}
