import { readFile } from 'node:fs/promises';
import { messageOf } from '@warden/core';
import type { ParsedFeed } from '@warden/telemetry';
import { parseFeed, ThreatIndex } from '@warden/telemetry';
import type { FeedSpec } from './config.ts';
import type { DetectorMetrics } from './metrics.ts';

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
  private readonly metrics: DetectorMetrics;
  private readonly log: Log;

  constructor(options: { specs: readonly FeedSpec[]; maxBytes: number; metrics: DetectorMetrics; log: Log }) {
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
        this.metrics.feedLoads.inc({ feed: spec.name, outcome: 'ok' });
        this.metrics.feedEntries.set({ feed: spec.name }, feed.cidrs.length + feed.spiffeIds.length);
        this.metrics.feedIssues.set({ feed: spec.name }, feed.issues.length);
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
        this.metrics.feedLoads.inc({ feed: spec.name, outcome: 'failed' });
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
