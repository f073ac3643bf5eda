import type { AccessRecord, CounterSample, FeatureWindows, SeriesCounters } from '@warden/telemetry';
import type { IngestMetrics } from './metrics.ts';
import type { RecordBatcher } from './records.ts';

export type RecordSource = 'als' | 'stream_telemetry' | 'decision';

/**
 * Where every input meets: each access record is stored on the bus (unless it came from there),
 * folded into the feature windows and counted in the time series; counter samples go to the last
 * two. Synchronous and allocation-light: it is the hot path of the ingest benchmark.
 */
export class Pipeline {
  private readonly windows: FeatureWindows;
  private readonly series: SeriesCounters;
  private readonly batcher: RecordBatcher;
  private readonly metrics: IngestMetrics;

  constructor(options: {
    windows: FeatureWindows;
    series: SeriesCounters;
    batcher: RecordBatcher;
    metrics: IngestMetrics;
  }) {
    this.windows = options.windows;
    this.series = options.series;
    this.batcher = options.batcher;
    this.metrics = options.metrics;
  }

  addRecords(records: readonly AccessRecord[], source: RecordSource): void {
    if (records.length === 0) return;
    this.metrics.received.inc({ source }, records.length);
    const now = Date.now();
    let late = 0;
    let overflow = 0;
    let seriesOverflow = 0;
    for (const record of records) {
      const outcome = this.windows.add(record);
      late += outcome.late;
      overflow += outcome.overflow;
      if (this.series.add(record, now) === 'overflow') seriesOverflow++;
    }
    if (late > 0) this.metrics.featuresDropped.inc({ reason: 'late' }, late);
    if (overflow > 0) this.metrics.featuresDropped.inc({ reason: 'overflow' }, overflow);
    if (seriesOverflow > 0) this.metrics.seriesOverflow.inc(seriesOverflow);
    // Decision records are on the bus already: the enforcer stored them.
    if (source !== 'decision') this.batcher.add(records);
  }

  addCounters(sample: CounterSample, protocol: string): void {
    const outcome = this.windows.addCounters(sample);
    if (outcome.late > 0) this.metrics.featuresDropped.inc({ reason: 'late' }, outcome.late);
    if (outcome.overflow > 0) this.metrics.featuresDropped.inc({ reason: 'overflow' }, outcome.overflow);
    if (this.series.addCounters(sample, protocol, Date.now()) === 'overflow')
      this.metrics.seriesOverflow.inc();
  }
}
