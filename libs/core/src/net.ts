import { isIP } from 'node:net';

/**
 * Whether a listen address reaches this host alone: `localhost`, 127.0.0.0/8, `::1`, and
 * 127.0.0.0/8 mapped into IPv6. Anything else (`0.0.0.0`, `::`, a host name, an interface's
 * address) may be reachable from elsewhere, so what listens there must authenticate its callers.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  const version = isIP(bare);
  if (version === 4) return bare.startsWith('127.');
  if (version !== 6) return false;
  // The URL parser writes IPv6 in its one compressed form, and mapped IPv4 in hex.
  const canonical = new URL(`http://[${bare}]/`).hostname;
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}
