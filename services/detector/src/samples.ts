import type { Bus, DataOf } from '@warden/events';
import { onReplay, StreamName, telemetryAccess, telemetryDecision } from '@warden/events';
import type { AccessRecord, SampleQuery } from '@warden/telemetry';
import { qualifierOf, SAMPLE_SLACK_MS, SampleCollector } from '@warden/telemetry';
import type { DetectorMetrics } from './metrics.ts';

export type Samples = { samples: AccessRecord[]; note?: string };

export type SampleLookbackOptions = {
  bus: Bus;
  metrics: DetectorMetrics;
  /** How long one look-back may take: an alert waits for it. */
  budgetMs?: number;
  /**
   * Stored messages (record batches) read at most per look-back, from the window's start on: a
   * scan stops there, at the budget, or once the best kind of samples are in hand.
   */
  maxMessages?: number;
};

/**
 * Finds a new alert's sample records in `WARDEN_TELEMETRY`: the access and decision records of
 * its window, read from the window's start with an ordered consumer filtered to the workload's
 * subjects (records are published under their destination, so a look-back for calls a workload
 * made reads every destination's). Bounded in time and messages: evidence must not hold up
 * containment, so an alert whose look-back finds nothing in time goes out with a note saying so.
 */
export class SampleLookback {
  readonly #bus: Bus;
  readonly #metrics: DetectorMetrics;
  readonly #budgetMs: number;
  readonly #maxMessages: number;

  constructor(options: SampleLookbackOptions) {
    this.#bus = options.bus;
    this.#metrics = options.metrics;
    this.#budgetMs = options.budgetMs ?? 250;
    this.#maxMessages = options.maxMessages ?? 200;
  }

  async find(query: SampleQuery): Promise<Samples> {
    const collector = new SampleCollector(query);
    const abort = new AbortController();
    let read = 0;
    let timer: NodeJS.Timeout | undefined;
    // The budget holds even while the scan is still being set up (a slow server): the scan is
    // told to stop and left to end on its own, deleting its consumer.
    const budget = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        abort.abort('budget');
        resolve('timeout');
      }, this.#budgetMs);
    });
    const batch = (event: { data: DataOf<typeof telemetryAccess> }): void => {
      read++;
      for (const record of event.data.records) collector.offer(record);
      // Enough read: ends the read through its signal (it then reports the abort).
      if (collector.settled || read >= this.#maxMessages) abort.abort('enough');
    };
    // Inbound: the workload's own subjects; outbound: every destination's.
    const filter =
      query.direction === 'outbound'
        ? {}
        : { namespace: qualifierOf(query.target.namespace), workload: qualifierOf(query.target.workload) };
    const scanning = this.#bus
      .replay([onReplay(telemetryAccess, batch, filter), onReplay(telemetryDecision, batch, filter)], {
        since: new Date(query.startMs - SAMPLE_SLACK_MS),
        signal: abort.signal,
      })
      .then(
        () => 'done' as const,
        (err: unknown) => (abort.signal.reason === 'enough' ? ('done' as const) : { err }),
      );
    const ended = await Promise.race([scanning, budget]);
    clearTimeout(timer);
    const samples = collector.samples();
    let outcome: 'found' | 'none' | 'timeout' | 'failed';
    let note: string | undefined;
    if (typeof ended === 'object' && abort.signal.reason !== 'budget') {
      outcome = 'failed';
      const reason = ended.err instanceof Error ? ended.err.message : String(ended.err);
      note = `no sample records: reading ${StreamName.telemetry} failed (${reason})`;
    } else if (ended === 'timeout' || typeof ended === 'object') {
      outcome = 'timeout';
      if (samples.length === 0) note = `no sample records found within the look-back's ${this.#budgetMs} ms`;
    } else {
      outcome = samples.length > 0 ? 'found' : 'none';
      if (samples.length === 0)
        note = `no ${query.direction} records of ${query.target.namespace}/${query.target.workload} stored for the window (read ${read} batches)`;
    }
    this.#metrics.evidenceLookups.inc({ outcome });
    return note === undefined ? { samples } : { samples, note };
  }
}
