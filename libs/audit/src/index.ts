export { canonicalJson, MISREADABLE, misreadableJson } from './canonical.ts';
export {
  auditSubjectOf,
  chainKey,
  ChainHead,
  ENTRY_MEMBERS,
  GENESIS,
  HASH_LENGTH,
  recordHash,
} from './chain.ts';
export type { ChainedRecord, ChainLink, EntryParts, EnvelopeParts, Writer } from './chain.ts';
export { checkpointSignedBy, checkpointSigner, publicKeyOfSeed } from './checkpoint.ts';
export type { Checkpoint, CheckpointSigner, UnsignedCheckpoint } from './checkpoint.ts';
export { AuditVerifier, digestEntry, ProblemKind, unsignedTailNote } from './verify.ts';
export type {
  AuditEntry,
  ChainSummary,
  EntryDigest,
  Problem,
  VerifyOptions,
  VerifyReport,
} from './verify.ts';
