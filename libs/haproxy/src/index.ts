export { checkConfig } from './check.ts';
export type { TerminatorFiles, TerminatorOptions } from './config.ts';
export { LOCKDOWN_KEY, mapFiles, PEER_IDENTITY_HEADER, renderTerminator, terminatorFiles } from './config.ts';
export type { QatAvailability } from './qat.ts';
export { detectQat } from './qat.ts';
export {
  deleteMapEntry,
  HaproxyRuntimeError,
  mapKeys,
  putMapEntry,
  replaceCertificate,
  runtimeCommand,
} from './runtime.ts';
export { SPIFFE_ID_LUA } from './lua.ts';
