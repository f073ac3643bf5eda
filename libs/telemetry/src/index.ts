export type { AccessRecord, Endpoint, Protocol } from './record.ts';
export { nameOrNone, namespaceOrNone, qualifierOf, RecordLimits } from './record.ts';
export type {
  AlsHttpEntry,
  AlsMessage,
  AlsNode,
  AlsStreamContext,
  AlsTcpEntry,
  AlsTranslation,
} from './als.ts';
export { nodeEndpoint, translateAls } from './als.ts';
export type {
  AddOutcome,
  CounterSample,
  FeatureScope,
  FeatureWindow,
  WindowOptions,
  WorkloadName,
} from './features.ts';
export { FeatureName, FeatureWindows, inboundView, OUTBOUND_PREFIX, outboundView } from './features.ts';
export type { SeriesOptions, SeriesOutcome } from './series.ts';
export { SeriesCounters } from './series.ts';
export type { AlertChange, AlertEvidence, NotifiedAlert, Severity, TrackerOptions } from './alertmanager.ts';
export { SAMPLE_SLACK_MS, SampleCollector } from './evidence.ts';
export type { SampleQuery } from './evidence.ts';
export {
  AlertPayloadError,
  AlertTracker,
  alertIdOf,
  MAX_NOTIFIED_ALERTS,
  parseNotification,
} from './alertmanager.ts';
export type { ReportCall, ReportCounters, ReportTranslation, TelemetryReport } from './report.ts';
export { MAX_REPORT_ITEMS, translateReport } from './report.ts';
export type { FeedIssue, ParsedFeed, ThreatMatch } from './threat-intel.ts';
export { FeedFormat, MAX_FEED_LINES, parseCidr, parseFeed, ThreatIndex } from './threat-intel.ts';
export type { FeedMetrics, FeedSpec } from './feed-set.ts';
export { FEED_LIST_HELP, FEED_LIST_PATTERN, FeedSet, feedSpecs } from './feed-set.ts';
export type { Reporter } from './reporter.ts';
export { bindToReporter, refusalOf, ReporterBinding, reporterOfCertificate } from './reporter.ts';
