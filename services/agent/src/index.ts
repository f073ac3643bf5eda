// For tests, benchmarks and tools that run the agent in-process; services never import each other.
export type { AgentDeps, RunningAgent } from './service.ts';
export { startAgent } from './service.ts';
export type { AgentConfig } from './config.ts';
export { agentConfig } from './config.ts';
export type { Entry, EntryDefaults } from './entries.ts';
export { defaultName, entryFromEvent, EntrySelector, parseEntriesFile } from './entries.ts';
export {
  AgentError,
  BadIssuanceError,
  BundleError,
  CacheError,
  CrlError,
  CrlProblem,
  EntriesFileError,
  InvalidEntryError,
  NoEvidenceError,
  SdsSocketError,
} from './errors.ts';
export { OutputFile } from './outputs.ts';
export { rotationTime } from './schedule.ts';
export { SdsResource } from './sds-server.ts';
export { agentService } from './spec.ts';
export type { Bundle, Svid } from './svid.ts';
