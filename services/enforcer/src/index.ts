export type { AccessRecord, Checker, CheckHandlerOptions } from './check.ts';
export { CheckHandler, FailClosed, recordOf } from './check.ts';
export type { EnforcerConfig } from './config.ts';
export { enforcerConfig } from './config.ts';
export { enforcerService } from './spec.ts';
