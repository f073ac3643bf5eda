/**
 * Call-graph edges are keyed by a path prefix, not the full path: `/orders/8812/items` and
 * `/orders/9931/items` are one edge. The prefix keeps the first `depth` segments, with segments
 * that look like identifiers (numbers, UUIDs, long hex, opaque tokens) replaced by `{id}`, so an
 * ID early in the path does not split an edge per object. gRPC paths (`/pkg.Service/Method`) are
 * kept whole: the method is the unit of authorisation there.
 */

const MAX_PREFIX = 256;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER = /^\d+$/;
const HEX = /^[0-9a-f]{16,}$/i;
/** Long mixed-case-and-digit tokens (base64ish keys, hashes); a word has no digits mixed in. */
const TOKEN = /^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{20,}$/;

export const isIdentifier = (segment: string): boolean =>
  NUMBER.test(segment) || UUID.test(segment) || HEX.test(segment) || TOKEN.test(segment);

export function pathPrefix(path: string | undefined, protocol: string, depth: number): string {
  if (!path) return '';
  const clean = path.split(/[?#]/, 1)[0] ?? '';
  if (protocol === 'grpc') return clean.slice(0, MAX_PREFIX);
  const segments = clean.split('/').filter((s) => s.length > 0);
  if (segments.length === 0) return '/';
  const kept = segments.slice(0, depth).map((s) => (isIdentifier(s) ? '{id}' : s));
  const prefix = `/${kept.join('/')}`;
  return prefix.length > MAX_PREFIX ? prefix.slice(0, MAX_PREFIX) : prefix;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** HTTP methods as sent; anything else collapses to OTHER, so a scanner cannot mint edges. */
export function normaliseMethod(method: string | undefined, protocol: string): string {
  if (protocol === 'tcp') return '';
  if (protocol === 'grpc') return 'POST';
  const upper = (method ?? '').toUpperCase();
  return METHODS.has(upper) ? upper : upper === '' ? '' : 'OTHER';
}
