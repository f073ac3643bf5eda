/**
 * Value matchers, each compiled once from a policy string into a closure: Istio's string forms
 * (exact, `prefix*`, `*suffix`, presence `*`), path templates (`{*}`, `{**}`), IP blocks and
 * Warden's time windows. Validators return an error message or null, so the parser can report
 * every bad value at its position.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { normalizeIp } from '../rego/address.ts';

export type StringMatcher = (value: string) => boolean;

/**
 * Istio's rule: "*" is presence (any non-empty value), a leading `*` is a suffix match, a trailing
 * `*` a prefix match, anything else exact. A `*` elsewhere is a literal character, as in Istio.
 */
export function stringMatcher(pattern: string, ignoreCase = false): StringMatcher {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  if (p === '*') return (v) => v.length > 0;
  if (p.startsWith('*')) {
    const suffix = p.slice(1);
    return (v) => v.endsWith(suffix);
  }
  if (p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (v) => v.startsWith(prefix);
  }
  return (v) => v === p;
}

/** One matcher for a list of patterns (OR), with exact values in a Set so long lists stay O(1). */
export function anyOf(patterns: readonly string[], ignoreCase = false): StringMatcher {
  const exact = new Set<string>();
  const others: StringMatcher[] = [];
  for (const raw of patterns) {
    const p = ignoreCase ? raw.toLowerCase() : raw;
    if (p !== '*' && !p.startsWith('*') && !p.endsWith('*')) exact.add(p);
    else others.push(stringMatcher(p));
  }
  if (others.length === 0) return (v) => exact.has(v);
  return (v) => exact.has(v) || others.some((m) => m(v));
}

const templateOperator = /\{\*\*?\}/;

export const isPathTemplate = (path: string): boolean => templateOperator.test(path);

/**
 * Validates an Istio path template: `{*}` and `{**}` must each be a whole segment, `{**}` must be
 * the last operator, and no bare `*`, `{` or `}` may appear outside an operator.
 */
export function pathTemplateError(path: string): string | null {
  if (!path.startsWith('/')) return 'a path template must start with /';
  const segments = path.split('/').slice(1);
  let sawDoubleAt = -1;
  let operators = 0;
  for (const [i, segment] of segments.entries()) {
    if (segment === '{*}' || segment === '{**}') {
      operators++;
      if (segment === '{**}') sawDoubleAt = operators;
      else if (sawDoubleAt !== -1) return '{**} must be the last operator of a path template';
      continue;
    }
    if (/[*{}]/.test(segment))
      return `segment ${i + 1} (${JSON.stringify(segment)}) mixes a template operator or * with other characters`;
  }
  if (sawDoubleAt !== -1 && sawDoubleAt !== operators)
    return '{**} must be the last operator of a path template';
  return null;
}

/** Envoy's URI template: `{*}` is one non-empty segment, `{**}` zero or more characters including `/`. */
export function pathTemplateMatcher(path: string): StringMatcher {
  const source = path
    .split('/')
    .map((segment) =>
      segment === '{*}' ? '[^/]+' : segment === '{**}' ? '.*' : segment.replace(/[.+?^$()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  const re = new RegExp(`^${source}$`);
  return (v) => re.test(v);
}

export function pathMatcher(patterns: readonly string[]): StringMatcher {
  const templates = patterns.filter(isPathTemplate).map(pathTemplateMatcher);
  const plain = patterns.filter((p) => !isPathTemplate(p));
  const base = plain.length > 0 ? anyOf(plain) : () => false;
  if (templates.length === 0) return base;
  return (v) => base(v) || templates.some((m) => m(v));
}

/** Parses a single IP (`10.1.2.3`, `::1`) or a CIDR block; returns null when invalid. */
function parseBlock(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (!family) return null;
  const max = family === 'ipv4' ? 32 : 128;
  if (slash === -1) return { address, prefix: max, family };
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return null;
  const prefix = Number(bits);
  if (prefix > max) return null;
  return { address, prefix, family };
}

export function ipBlockError(text: string): string | null {
  return parseBlock(text) ? null : `${JSON.stringify(text)} is not an IP address or CIDR block`;
}

export const ipv4ToInt = (ip: string): number => {
  const parts = ip.split('.');
  return (
    ((Number(parts[0]) << 24) | (Number(parts[1]) << 16) | (Number(parts[2]) << 8) | Number(parts[3])) >>> 0
  );
};

export type IpMatcher = (ip: string) => boolean;

/** IPv4 blocks are checked with integer masks (fast path); IPv6 through node's BlockList. */
export function ipMatcher(blocks: readonly string[]): IpMatcher {
  const v4: { base: number; mask: number }[] = [];
  const v6 = new BlockList();
  let hasV6 = false;
  for (const text of blocks) {
    const b = parseBlock(text);
    if (!b) continue;
    if (b.family === 'ipv4') {
      const mask = b.prefix === 0 ? 0 : (0xffffffff << (32 - b.prefix)) >>> 0;
      v4.push({ base: (ipv4ToInt(b.address) & mask) >>> 0, mask });
    } else {
      v6.addSubnet(b.address, b.prefix, 'ipv6');
      hasV6 = true;
    }
  }
  const matchV4 = (ip: string): boolean => {
    const n = ipv4ToInt(ip);
    return v4.some((b) => (n & b.mask) >>> 0 === b.base);
  };
  return (ip) => {
    if (isIPv4(ip)) return matchV4(ip);
    // An IPv4-mapped peer (`::ffff:10.0.0.1`) is the IPv4 peer, as Envoy reports it.
    const v4ip = normalizeIp(ip);
    if (v4ip !== ip) return matchV4(v4ip);
    return hasV6 && isIPv6(ip) && v6.check(ip, 'ipv6');
  };
}

/** A parsed `request.time` window: minutes since local midnight, in an IANA time zone. */
export type TimeWindow = { from: number; to: number; zone: string };

const windowPattern = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)(?:\s+(\S+))?$/;

/** `09:00-18:00` (UTC) or `09:00-18:00 Europe/Paris`; `22:00-06:00` wraps past midnight. */
export function parseTimeWindow(text: string): TimeWindow | string {
  const m = windowPattern.exec(text.trim());
  if (!m) return `${JSON.stringify(text)} is not a time window like "09:00-18:00 Europe/Paris"`;
  const from = Number(m[1]) * 60 + Number(m[2]);
  const to = Number(m[3]) * 60 + Number(m[4]);
  if (to > 24 * 60) return `${JSON.stringify(text)}: the end of a window is at most 24:00`;
  if (from === to) return `${JSON.stringify(text)}: an empty window never matches`;
  const zone = m[5] ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
  } catch {
    return `${JSON.stringify(zone)} is not an IANA time zone`;
  }
  return { from, to, zone };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Minutes since midnight of `epochMs` in `zone`, via Intl (handles daylight saving). */
export function minutesInZone(epochMs: number, zone: string): number {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(zone, f);
  }
  let hour = 0;
  let minute = 0;
  for (const part of f.formatToParts(epochMs)) {
    if (part.type === 'hour') hour = Number(part.value);
    else if (part.type === 'minute') minute = Number(part.value);
  }
  return hour * 60 + minute;
}

export function inWindow(epochMs: number, w: TimeWindow): boolean {
  const m = minutesInZone(epochMs, w.zone);
  return w.from < w.to ? m >= w.from && m < w.to : m >= w.from || m < w.to;
}
