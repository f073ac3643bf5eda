import type { WriteApi } from '@influxdata/influxdb-client';
import { HttpError, InfluxDB, setLogger } from '@influxdata/influxdb-client';
import { Backoff, pause } from '@warden/core';
import type { SeriesCounters } from '@warden/telemetry';
import type { IngestMetrics } from './metrics.ts';

type Log = {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
};

export type SeriesWriterOptions = {
  url: string;
  series: SeriesCounters;
  metrics: IngestMetrics;
  log: Log;
  intervalMs: number;
  bufferLines: number;
  batchLines: number;
};

/** How often, at most, a run of dropped lines is logged (each drop is counted at once). */
const DROP_LOG_MS = 10_000;

/**
 * Writes the live counters to the time-series database through the InfluxDB v2 write API
 * (`@influxdata/influxdb-client`; VictoriaMetrics serves `/api/v2/write`). Every interval the
 * counters' lines join a bounded buffer; one loop writes it in batches, oldest first. A failed
 * write keeps its lines and waits with `Backoff`; while the database is down the buffer fills,
 * and past its bound the oldest lines are dropped, counted in
 * `warden_ingest_series_lines_dropped_total{reason="buffer_full"}` and logged. A batch the database
 * refuses as invalid (4xx other than 429) is dropped and counted as `rejected`, never retried.
 */
export class SeriesWriter {
  private buffer: string[] = [];
  /** The first unwritten line is `buffer[head]`; `offset` counts lines removed from the front. */
  private head = 0;
  private offset = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private droppedSinceLog = 0;
  private lastDropLog = 0;
  private down = false;
  private readonly writeApi: WriteApi;
  private readonly options: SeriesWriterOptions;

  constructor(options: SeriesWriterOptions) {
    this.options = options;
    // The client logs every failure to the console by itself; this writer counts and logs them.
    setLogger({ error: () => undefined, warn: () => undefined });
    this.writeApi = new InfluxDB({ url: options.url, timeout: 10_000 }).getWriteApi(
      'warden',
      'warden',
      'ms',
      {
        batchSize: options.batchLines + 1,
        flushInterval: 0,
        maxRetries: 0,
        gzipThreshold: 64 * 1024,
        writeFailed: (err: Error) => Promise.reject(err),
      },
    );
  }

  get buffered(): number {
    return this.buffer.length - this.head;
  }

  start(): void {
    this.timer = setInterval(() => this.collect(), this.options.intervalMs);
    this.loop = this.run();
  }

  /** Takes the counters' current lines into the buffer (each interval; tests call it directly). */
  collect(nowMs = Date.now()): void {
    const lines = this.options.series.lines(nowMs);
    this.options.metrics.series.set(this.options.series.size);
    if (lines.length === 0) return;
    for (const line of lines) this.buffer.push(line);
    const over = this.buffered - this.options.bufferLines;
    if (over > 0) {
      this.head += over;
      this.options.metrics.linesDropped.inc({ reason: 'buffer_full' }, over);
      this.droppedSinceLog += over;
      if (nowMs - this.lastDropLog >= DROP_LOG_MS) {
        this.options.log.error(
          { dropped: this.droppedSinceLog, bufferLines: this.options.bufferLines },
          'time-series buffer full: oldest lines dropped',
        );
        this.lastDropLog = nowMs;
        this.droppedSinceLog = 0;
      }
    }
    this.compact();
    this.options.metrics.lineBuffer.set(this.buffered);
    this.wake?.();
  }

  /** Stops collecting, writes what is buffered (within `graceMs`), and closes. */
  async stop(graceMs = 5000): Promise<void> {
    clearInterval(this.timer);
    this.collect();
    const deadline = setTimeout(() => this.stopping.abort(), graceMs);
    this.draining = true;
    this.wake?.();
    await this.loop;
    clearTimeout(deadline);
    if (this.buffered > 0) {
      this.options.metrics.linesDropped.inc({ reason: 'shutdown' }, this.buffered);
      this.options.log.warn({ lines: this.buffered }, 'time-series lines not written before shutdown');
    }
    await this.writeApi.close().catch(() => undefined);
  }

  private draining = false;

  private compact(): void {
    if (this.head > 65_536 && this.head * 2 > this.buffer.length) {
      this.buffer = this.buffer.slice(this.head);
      this.offset += this.head;
      this.head = 0;
    }
  }

  private async run(): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 10_000 });
    const { metrics, log, batchLines } = this.options;
    while (!this.stopping.signal.aborted) {
      if (this.buffered === 0) {
        if (this.draining) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.stopping.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.wake = undefined;
        continue;
      }
      const from = this.offset + this.head;
      const batch = this.buffer.slice(this.head, this.head + batchLines);
      const started = performance.now();
      try {
        this.writeApi.writeRecords(batch);
        await this.writeApi.flush();
        metrics.writeSeconds.observe((performance.now() - started) / 1000);
        metrics.linesWritten.inc(batch.length);
        this.advance(from + batch.length);
        backoff.reset();
        if (this.down) {
          this.down = false;
          log.info({ buffered: this.buffered }, 'time-series database reachable again; writing the buffer');
        }
      } catch (err) {
        if (
          err instanceof HttpError &&
          err.statusCode >= 400 &&
          err.statusCode < 500 &&
          err.statusCode !== 429
        ) {
          metrics.linesDropped.inc({ reason: 'rejected' }, batch.length);
          log.error({ err, lines: batch.length, first: batch[0] }, 'time-series database refused a batch');
          this.advance(from + batch.length);
          continue;
        }
        metrics.writeFailures.inc();
        if (!this.down) {
          this.down = true;
          log.warn(
            { err, buffered: this.buffered },
            'time-series write failed; buffering and retrying with backoff',
          );
        }
        await pause(backoff.next(), this.stopping.signal);
      }
    }
  }

  /** Forgets the lines before absolute index `to`, unless a drop already skipped past them. */
  private advance(to: number): void {
    this.head = Math.max(this.head, Math.min(this.buffer.length, to - this.offset));
    this.compact();
    this.options.metrics.lineBuffer.set(this.buffered);
  }
}
