/**
 * Builds the input document OPA's Envoy plugin gives a policy (opa-envoy-plugin
 * `envoyauth/request.go`), so an existing OPA-Envoy policy runs unchanged:
 *
 *   input.attributes.source.address.socketAddress.{address,portValue}, .source.principal
 *   input.attributes.destination.address.socketAddress.{address,portValue}
 *   input.attributes.request.http.{method,path,host,headers,body,size}
 *   input.parsed_path    ["api", "v1", "users"]   (path without query, split on /, unescaped)
 *   input.parsed_query   {"limit": ["10"]}
 *   input.parsed_body    JSON or form body, when within the size limit and not truncated
 *   input.truncated_body true when the body was cut by Envoy or is over the limit
 *   input.version        {"encoding": "protojson", "ext_authz": "v3"}
 *
 * Keys keep protojson's casing (`socketAddress`, `portValue`) and the plugin's snake_case at the
 * top level, exactly as OPA-Envoy policies expect them.
 */
import { InvalidRequestError } from '../errors.ts';
import type { AuthzRequest } from '../authz/model.ts';

export type EnvoyInputOptions = {
  /** Largest body that is parsed into `parsed_body`; larger ones are marked truncated. Default 64 KiB. */
  maxBodyBytes?: number;
};

type SocketAddress = { socketAddress: { address: string; portValue: number } };
type Peer = { address?: SocketAddress; principal?: string };

export type EnvoyInput = {
  attributes: {
    source: Peer;
    destination: Peer;
    request: {
      time?: string;
      http?: {
        method: string;
        path: string;
        host: string;
        headers: Record<string, string>;
        body?: string;
        size?: number;
      };
    };
  };
  parsed_path: string[];
  parsed_query: Record<string, string[]>;
  parsed_body: unknown;
  truncated_body: boolean;
  version: { encoding: 'protojson'; ext_authz: 'v3' };
};

const address = (ip: string | undefined, port: number | undefined): SocketAddress | undefined =>
  ip === undefined ? undefined : { socketAddress: { address: ip, portValue: port ?? 0 } };

function query(params: URLSearchParams): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of params) (out[k] ??= []).push(v);
  return out;
}

function splitPath(path: string): { parsedPath: string[]; parsedQuery: Record<string, string[]> } {
  const q = path.indexOf('?');
  const rawPath = (q === -1 ? path : path.slice(0, q)).split('#')[0] ?? '';
  const rawQuery = q === -1 ? '' : (path.slice(q + 1).split('#')[0] ?? '');
  let parsedPath: string[];
  try {
    parsedPath = rawPath.replace(/^\/+/, '').split('/').map(decodeURIComponent);
  } catch {
    throw new InvalidRequestError(`path ${JSON.stringify(path)} has an invalid escape`);
  }
  return { parsedPath, parsedQuery: query(new URLSearchParams(rawQuery)) };
}

function parseBody(body: string, contentType: string | undefined): unknown {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (body === '' || type === undefined) return null;
  if (type === 'application/json') {
    try {
      return JSON.parse(body) as unknown;
    } catch {
      throw new InvalidRequestError('body is not valid JSON although content-type says so');
    }
  }
  if (type === 'application/x-www-form-urlencoded') return query(new URLSearchParams(body));
  return null;
}

export function buildEnvoyInput(request: AuthzRequest, options: EnvoyInputOptions = {}): EnvoyInput {
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const principal = request.source?.principal;
  const source: Peer = {};
  const sourceAddress = address(request.source?.ip, request.source?.port);
  if (sourceAddress) source.address = sourceAddress;
  if (principal) source.principal = principal.startsWith('spiffe://') ? principal : `spiffe://${principal}`;
  const destination: Peer = {};
  const destinationAddress = address(request.destination.ip, request.destination.port);
  if (destinationAddress) destination.address = destinationAddress;

  const input: EnvoyInput = {
    attributes: { source, destination, request: {} },
    parsed_path: [],
    parsed_query: {},
    parsed_body: null,
    truncated_body: false,
    version: { encoding: 'protojson', ext_authz: 'v3' },
  };
  if (request.time !== undefined)
    input.attributes.request.time = request.time instanceof Date ? request.time.toISOString() : request.time;
  const http = request.http;
  if (!http) return input;

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(http.headers ?? {})) {
    const key = name.toLowerCase();
    const joined = Array.isArray(value) ? value.join(',') : value;
    headers[key] = headers[key] === undefined ? joined : `${headers[key]},${joined}`;
  }
  const host = http.host ?? headers[':authority'] ?? headers.host ?? '';
  // Envoy's CheckRequest carries the pseudo-headers in the header map too.
  headers[':method'] ??= http.method;
  headers[':path'] ??= http.path;
  if (host) headers[':authority'] ??= host;
  const { parsedPath, parsedQuery } = splitPath(http.path);
  input.parsed_path = parsedPath;
  input.parsed_query = parsedQuery;
  input.attributes.request.http = { method: http.method, path: http.path, host, headers };
  if (http.body !== undefined) {
    const size = Buffer.byteLength(http.body, 'utf8');
    input.attributes.request.http.body = http.body;
    input.attributes.request.http.size = size;
    input.truncated_body = headers['x-envoy-auth-partial-body'] === 'true' || size > maxBodyBytes;
    if (!input.truncated_body) input.parsed_body = parseBody(http.body, headers['content-type']);
  }
  return input;
}
