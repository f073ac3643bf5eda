import { isIP } from 'node:net';
import { parseSpiffeId } from '@warden/pki';

/**
 * Threat-intelligence feeds (ARCHITECTURE §6): lists of IP addresses and CIDR blocks, and of SPIFFE
 * IDs, parsed into a `ThreatIndex` that answers "is this source listed, and by which feed". A
 * malformed line is reported with its line number and skipped; the rest of the feed loads.
 *
 * | format          | a line                                                                     |
 * | --------------- | -------------------------------------------------------------------------- |
 * | `plain`         | `203.0.113.7` or `198.51.100.0/24` or `2001:db8::/32`, `#` comments       |
 * | `firehol`       | a FireHOL netset: the same, with its `#` header                            |
 * | `spamhaus-drop` | `1.10.16.0/20 ; SBL256894`, or the JSON-lines variant `{"cidr": …}`        |
 * | `spiffe`        | `spiffe://trust-domain/path`, `#` comments                                 |
 */

export const FeedFormat = {
  plain: 'plain',
  firehol: 'firehol',
  spamhausDrop: 'spamhaus-drop',
  spiffe: 'spiffe',
} as const;
export type FeedFormat = (typeof FeedFormat)[keyof typeof FeedFormat];

export type FeedIssue = { line: number; text: string; reason: string };

export type ParsedFeed = {
  feed: string;
  cidrs: { family: 4 | 6; first: bigint; last: bigint; text: string; note?: string }[];
  spiffeIds: string[];
  issues: FeedIssue[];
  lines: number;
};

/** Lines per feed at most; a feed is a file or a download, not a stream. */
export const MAX_FEED_LINES = 2_000_000;

function addressToBigInt(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  // Expand `::` and an embedded IPv4 tail into eight 16-bit groups.
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const n = addressToBigInt(v4[1], 4);
    text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

/** An address or CIDR block as a range, or the reason it is not one. */
export function parseCidr(text: string): { family: 4 | 6; first: bigint; last: bigint } | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family !== 4 && family !== 6) return `not an IP address: ${JSON.stringify(address)}`;
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits)
      return `prefix length must be 0 to ${bits}, got ${JSON.stringify(p)}`;
    prefix = Number(p);
  }
  const value = addressToBigInt(address, family);
  const host = (1n << BigInt(bits - prefix)) - 1n;
  // A block written with host bits set (10.0.0.1/8) is taken as its network, as Spamhaus and FireHOL mean it.
  return { family, first: value & ~host, last: (value & ~host) | host };
}

/** Parses one feed's text; `feed` names it in matches and reports. */
export function parseFeed(feed: string, format: FeedFormat, text: string): ParsedFeed {
  const out: ParsedFeed = { feed, cidrs: [], spiffeIds: [], issues: [], lines: 0 };
  const lines = text.split(/\r?\n/);
  if (lines.length > MAX_FEED_LINES) {
    out.issues.push({
      line: MAX_FEED_LINES + 1,
      text: '',
      reason: `more than ${MAX_FEED_LINES} lines; the rest is ignored`,
    });
    lines.length = MAX_FEED_LINES;
  }
  lines.forEach((raw, index) => {
    const line = index + 1;
    out.lines = line;
    let body = raw.trim();
    let note: string | undefined;
    if (format === FeedFormat.spamhausDrop) {
      if (body.startsWith('{')) {
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          out.issues.push({ line, text: raw.slice(0, 200), reason: 'not JSON' });
          return;
        }
        const record = json as { cidr?: unknown; sblid?: unknown; type?: unknown };
        if (record.type === 'metadata') return;
        if (typeof record.cidr !== 'string') {
          out.issues.push({ line, text: raw.slice(0, 200), reason: 'no "cidr" string' });
          return;
        }
        body = record.cidr;
        if (typeof record.sblid === 'string') note = record.sblid;
      } else {
        const semicolon = body.indexOf(';');
        if (semicolon >= 0) {
          note = body.slice(semicolon + 1).trim() || undefined;
          body = body.slice(0, semicolon).trim();
        }
      }
    } else {
      const hash = body.indexOf('#');
      if (hash >= 0) body = body.slice(0, hash).trim();
    }
    if (body === '') return;
    if (format === FeedFormat.spiffe) {
      try {
        parseSpiffeId(body);
        out.spiffeIds.push(body);
      } catch (err) {
        out.issues.push({
          line,
          text: raw.slice(0, 200),
          reason: err instanceof Error ? err.message : 'not a SPIFFE ID',
        });
      }
      return;
    }
    const range = parseCidr(body);
    if (typeof range === 'string') {
      out.issues.push({ line, text: raw.slice(0, 200), reason: range });
      return;
    }
    out.cidrs.push({ ...range, text: body, ...(note ? { note } : {}) });
  });
  return out;
}

export type ThreatMatch = { feed: string; entry: string; note?: string };

type Range = { first: bigint; last: bigint; match: ThreatMatch };

/**
 * Every loaded feed, searchable: ranges per address family sorted by start (overlaps kept, so a
 * lookup scans back over the few blocks that could contain the address), SPIFFE IDs in a map.
 */
export class ThreatIndex {
  private readonly v4: Range[];
  private readonly v6: Range[];
  private readonly ids: Map<string, ThreatMatch>;
  /** The longest block per family, which bounds how far back a lookup must look. */
  private readonly widest: { 4: bigint; 6: bigint };

  constructor(feeds: readonly ParsedFeed[]) {
    const v4: Range[] = [];
    const v6: Range[] = [];
    this.ids = new Map();
    for (const feed of feeds) {
      for (const c of feed.cidrs) {
        const match: ThreatMatch = { feed: feed.feed, entry: c.text, ...(c.note ? { note: c.note } : {}) };
        (c.family === 4 ? v4 : v6).push({ first: c.first, last: c.last, match });
      }
      for (const id of feed.spiffeIds)
        if (!this.ids.has(id)) this.ids.set(id, { feed: feed.feed, entry: id });
    }
    const byStart = (a: Range, b: Range): number => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0);
    this.v4 = v4.sort(byStart);
    this.v6 = v6.sort(byStart);
    const widest = (ranges: Range[]): bigint =>
      ranges.reduce((w, r) => (r.last - r.first > w ? r.last - r.first : w), 0n);
    this.widest = { 4: widest(this.v4), 6: widest(this.v6) };
  }

  get size(): number {
    return this.v4.length + this.v6.length + this.ids.size;
  }

  /** The feed entry listing `address`, if any. */
  matchAddress(input: string): ThreatMatch | undefined {
    // Dual-stack sockets report IPv4 peers as IPv4-mapped IPv6: the listed IPv4 block still applies.
    const address = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(input)?.[1] ?? input;
    const family = isIP(address);
    if (family !== 4 && family !== 6) return undefined;
    const ranges = family === 4 ? this.v4 : this.v6;
    const value = addressToBigInt(address, family);
    // The last range starting at or before the address, then back while a range could still reach it.
    let lo = 0;
    let hi = ranges.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((ranges[mid]?.first ?? 0n) <= value) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const floor = value - this.widest[family];
    for (let i = at; i >= 0; i--) {
      const r = ranges[i];
      if (!r || r.first < floor) break;
      if (r.last >= value) return r.match;
    }
    return undefined;
  }

  matchPrincipal(spiffeId: string): ThreatMatch | undefined {
    return this.ids.get(spiffeId);
  }
}
