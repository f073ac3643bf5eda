import { readFile } from 'node:fs/promises';
import { messageOf } from '@warden/core';
import type { FeedFormat, ParsedFeed } from './threat-intel.ts';
import { parseFeed, ThreatIndex } from './threat-intel.ts';

/**
 * The threat-intelligence feeds a service follows (the detector, which alerts on listed sources in
 * the access records, and the enforcer, whose decision point denies them: ARCHITECTURE §4 step 3).
 * The one part of this lib that reads files and URLs.
 */

export type FeedSpec = { name: string; format: FeedFormat; location: string };

/** A feed list setting: comma-separated `<name>=<format>:<file or http(s) URL>`. */
export const FEED_LIST_PATTERN =
  /^$|^([a-z0-9_-]{1,64}=(plain|firehol|spamhaus-drop|spiffe):[^,\s]+)(,[a-z0-9_-]{1,64}=(plain|firehol|spamhaus-drop|spiffe):[^,\s]+)*$/;
export const FEED_LIST_HELP = 'comma-separated <name>=<plain|firehol|spamhaus-drop|spiffe>:<file or URL>';

/** A feed list setting as a list; the setting has been checked against `FEED_LIST_PATTERN`. */
export function feedSpecs(value: string): FeedSpec[] {
  if (value === '') return [];
  return value.split(',').map((item) => {
    const eq = item.indexOf('=');
    const colon = item.indexOf(':', eq);
    return {
      name: item.slice(0, eq),
      format: item.slice(eq + 1, colon) as FeedFormat,
      location: item.slice(colon + 1),
    };
  });
}

/** What a service counts of its feeds, under its own metric names. */
export type FeedMetrics = {
  loaded(feed: string, outcome: 'ok' | 'failed'): void;
  entries(feed: string, entries: number, malformed: number): void;
};

type Log = { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };

/** Issues logged per feed load at most; the metric counts them all. */
const LOGGED_ISSUES = 20;

async function fetchText(location: string, maxBytes: number): Promise<string> {
  if (!/^https?:\/\//.test(location)) {
    const text = await readFile(location, 'utf8');
    if (Buffer.byteLength(text) > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    return text;
  }
  const res = await fetch(location, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.byteLength > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
  return new TextDecoder().decode(body);
}

/**
 * Loads the configured feeds and refreshes them on an interval. A feed that cannot be fetched
 * keeps its previous entries (and is logged and counted); its malformed lines are skipped, each
 * logged with its line number (the first twenty) and all counted.
 */
export class FeedSet {
  private parsed = new Map<string, ParsedFeed>();
  private current = new ThreatIndex([]);
  private timer: NodeJS.Timeout | undefined;
  private readonly specs: readonly FeedSpec[];
  private readonly maxBytes: number;
  private readonly metrics: FeedMetrics;
  private readonly log: Log;

  constructor(options: { specs: readonly FeedSpec[]; maxBytes: number; metrics: FeedMetrics; log: Log }) {
    this.specs = options.specs;
    this.maxBytes = options.maxBytes;
    this.metrics = options.metrics;
    this.log = options.log;
  }

  get index(): ThreatIndex {
    return this.current;
  }

  async load(): Promise<void> {
    for (const spec of this.specs) {
      try {
        const feed = parseFeed(spec.name, spec.format, await fetchText(spec.location, this.maxBytes));
        this.parsed.set(spec.name, feed);
        this.metrics.loaded(spec.name, 'ok');
        this.metrics.entries(spec.name, feed.cidrs.length + feed.spiffeIds.length, feed.issues.length);
        for (const issue of feed.issues.slice(0, LOGGED_ISSUES))
          this.log.warn(
            { feed: spec.name, location: spec.location, ...issue },
            'malformed feed line skipped',
          );
        this.log.info(
          {
            feed: spec.name,
            entries: feed.cidrs.length + feed.spiffeIds.length,
            malformed: feed.issues.length,
          },
          'threat-intelligence feed loaded',
        );
      } catch (err) {
        this.metrics.loaded(spec.name, 'failed');
        this.log.warn(
          { feed: spec.name, location: spec.location, err: messageOf(err) },
          'feed load failed; previous entries stay',
        );
      }
    }
    this.current = new ThreatIndex([...this.parsed.values()]);
  }

  start(refreshMs: number): void {
    this.timer = setInterval(() => void this.load(), refreshMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
