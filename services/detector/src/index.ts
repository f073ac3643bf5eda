export type { DetectorConfig } from './config.ts';
export { detectorConfig } from './config.ts';
export type { DetectorDeps, RunningDetector } from './service.ts';
export { startDetector } from './service.ts';
export { detectorService } from './spec.ts';
export { createDetectorMetrics } from './metrics.ts';
export { SampleLookback } from './samples.ts';
