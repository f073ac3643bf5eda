/**
 * Turns an `AuthzRequest` into the flat attribute record the compiled predicates read, checking
 * its shape on the way: a malformed request throws `InvalidRequestError` and the decision point
 * denies it (fail closed) instead of matching it against half-understood attributes.
 */
import { isIP } from 'node:net';
import { InvalidRequestError } from '../errors.ts';
import { normalizeIp } from '../rego/address.ts';
import type { AuthzRequest } from './model.ts';

export type Attributes = {
  namespace: string;
  labels: Record<string, string> | undefined;
  /** Peer identity without `spiffe://`; undefined on plaintext. */
  principal: string | undefined;
  /** From the principal's `/ns/<namespace>/` segment; undefined on plaintext. */
  sourceNamespace: string | undefined;
  sourceIp: string | undefined;
  remoteIp: string | undefined;
  destinationIp: string | undefined;
  destinationPort: string | undefined;
  sni: string | undefined;
  http: boolean;
  method: string | undefined;
  /** Path without query string or fragment, as Envoy's path matcher sees it. */
  path: string | undefined;
  /** Lower-cased (host matching is case-insensitive). */
  host: string | undefined;
  /** Lower-cased names; repeated headers joined with `,` as Envoy does. */
  headers: Map<string, string>;
  authPrincipal: string | undefined;
  audiences: readonly string[];
  presenter: string | undefined;
  claims: Record<string, unknown> | undefined;
  timeMs: number;
};

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function optionalString(v: unknown, what: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new InvalidRequestError(`${what} must be a string`);
  return v;
}

/**
 * An address, IPv4-mapped IPv6 (`::ffff:10.0.0.1`, how a dual-stack socket reports an IPv4 peer)
 * turned into IPv4 as Envoy does, so `ipBlocks: [10.0.0.0/8]` matches it and a deny-list cannot
 * be bypassed by the socket's address family.
 */
function optionalIp(v: unknown, what: string): string | undefined {
  const s = optionalString(v, what);
  if (s !== undefined && isIP(s) === 0)
    throw new InvalidRequestError(`${what} ${JSON.stringify(s)} is not an IP`);
  return s === undefined ? undefined : normalizeIp(s);
}

const methodToken = /^[A-Za-z]+$/;
const noHeaders = new Map<string, string>();

export function normalizeRequest(input: AuthzRequest, now: () => number = Date.now): Attributes {
  if (!isRecord(input)) throw new InvalidRequestError('request must be an object');
  const destination: unknown = input.destination;
  if (!isRecord(destination)) throw new InvalidRequestError('destination is required');
  const namespace = destination.namespace;
  if (typeof namespace !== 'string' || namespace === '')
    throw new InvalidRequestError('destination.namespace must be a non-empty string');
  const labels = destination.labels;
  if (labels !== undefined && !isRecord(labels))
    throw new InvalidRequestError('destination.labels must be a map');
  const port = destination.port;
  if (port !== undefined && (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535))
    throw new InvalidRequestError('destination.port must be an integer 0-65535');

  const source: unknown = input.source ?? {};
  if (!isRecord(source)) throw new InvalidRequestError('source must be an object');
  let principal = optionalString(source.principal, 'source.principal');
  if (principal === '') principal = undefined;
  if (principal?.startsWith('spiffe://')) principal = principal.slice('spiffe://'.length);
  const nsMatch = principal === undefined ? null : /\/ns\/([^/]+)\//.exec(principal);
  const sourceIp = optionalIp(source.ip, 'source.ip');
  const remoteIp = optionalIp(source.remoteIp, 'source.remoteIp') ?? sourceIp;

  const connection: unknown = input.connection ?? {};
  if (!isRecord(connection)) throw new InvalidRequestError('connection must be an object');

  let method: string | undefined;
  let path: string | undefined;
  let host: string | undefined;
  let headers = noHeaders;
  const http: unknown = input.http;
  if (http !== undefined) {
    if (!isRecord(http)) throw new InvalidRequestError('http must be an object');
    if (typeof http.method !== 'string' || !methodToken.test(http.method))
      throw new InvalidRequestError('http.method must be an HTTP method token');
    if (typeof http.path !== 'string' || !(http.path.startsWith('/') || http.path === '*'))
      throw new InvalidRequestError('http.path must start with /');
    method = http.method;
    const cut = http.path.search(/[?#]/);
    path = cut === -1 ? http.path : http.path.slice(0, cut);
    host = optionalString(http.host, 'http.host')?.toLowerCase();
    if (http.headers !== undefined) {
      if (!isRecord(http.headers)) throw new InvalidRequestError('http.headers must be a map');
      headers = new Map();
      for (const [name, value] of Object.entries(http.headers)) {
        const joined = Array.isArray(value) ? value.join(',') : value;
        if (typeof joined !== 'string') throw new InvalidRequestError(`header ${name} must be a string`);
        const key = name.toLowerCase();
        const prior = headers.get(key);
        headers.set(key, prior === undefined ? joined : `${prior},${joined}`);
      }
      if (host === undefined) host = (headers.get(':authority') ?? headers.get('host'))?.toLowerCase();
    }
  }

  const auth: unknown = input.auth ?? {};
  if (!isRecord(auth)) throw new InvalidRequestError('auth must be an object');
  const audiences = auth.audiences ?? [];
  if (!Array.isArray(audiences) || !audiences.every((a) => typeof a === 'string'))
    throw new InvalidRequestError('auth.audiences must be a list of strings');
  if (auth.claims !== undefined && !isRecord(auth.claims))
    throw new InvalidRequestError('auth.claims must be a map');

  let timeMs: number;
  const time: unknown = input.time;
  if (time === undefined) timeMs = now();
  else if (time instanceof Date) timeMs = time.getTime();
  else if (typeof time === 'string') timeMs = Date.parse(time);
  else throw new InvalidRequestError('time must be an RFC 3339 string or a Date');
  if (Number.isNaN(timeMs)) throw new InvalidRequestError('time is not a valid date');

  return {
    namespace,
    labels: labels as Record<string, string> | undefined,
    principal,
    sourceNamespace: nsMatch?.[1],
    sourceIp,
    remoteIp,
    destinationIp: optionalIp(destination.ip, 'destination.ip'),
    destinationPort: port === undefined ? undefined : String(port),
    sni: optionalString(connection.sni, 'connection.sni'),
    http: http !== undefined,
    method,
    path,
    host,
    headers,
    authPrincipal: optionalString(auth.principal, 'auth.principal'),
    audiences: audiences as string[],
    presenter: optionalString(auth.presenter, 'auth.presenter'),
    claims: auth.claims as Record<string, unknown> | undefined,
    timeMs,
  };
}
