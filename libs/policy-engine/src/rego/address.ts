/**
 * Peer addresses as Envoy reports them. A dual-stack socket (Node's default `::` listener) sees an
 * IPv4 client as the IPv4-mapped IPv6 address `::ffff:10.0.0.1`; Envoy, with `ipv4_compat`, turns
 * such an address back into `10.0.0.1` before filters and ext_authz see it. Warden does the same
 * wherever an address enters a decision, so `10.0.0.0/8` in a Rego `net.cidr_contains` or an Istio
 * `ipBlocks` matches the client whichever way its socket was opened (a deny-list then fails
 * closed, not open).
 */
import { isIPv6 } from 'node:net';

/** The 8 16-bit groups of an IPv6 literal (no zone), or undefined when it is not one. */
function groups(ip: string): number[] | undefined {
  if (!isIPv6(ip) || ip.includes('%')) return undefined;
  let text = ip;
  const dotted: number[] = [];
  if (text.includes('.')) {
    const cut = text.lastIndexOf(':');
    const o = text
      .slice(cut + 1)
      .split('.')
      .map(Number);
    dotted.push(((o[0] ?? 0) << 8) | (o[1] ?? 0), ((o[2] ?? 0) << 8) | (o[3] ?? 0));
    text = text.slice(0, cut + 1) + '0:0';
  }
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const [head = '', rest] = text.split('::');
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const out =
    rest === undefined
      ? left
      : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  if (dotted.length === 2) out.splice(6, 2, ...dotted);
  return out.length === 8 ? out : undefined;
}

/** `::ffff:a.b.c.d` (in any spelling, `::ffff:a00:1` included) as `a.b.c.d`; any other address unchanged. */
export function normalizeIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const g = groups(ip);
  if (!g || g[0] !== 0 || g[1] !== 0 || g[2] !== 0 || g[3] !== 0 || g[4] !== 0 || g[5] !== 0xffff) return ip;
  const hi = g[6] ?? 0;
  const lo = g[7] ?? 0;
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}
