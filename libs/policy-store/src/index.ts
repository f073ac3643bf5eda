export type { FollowerOptions } from './follower.ts';
export { buildRevision, PolicyFollower } from './follower.ts';
export type { Manifest, ManifestEntry, RolloutEntry } from './layout.ts';
export { canonicalJson, kvKey, manifest, manifestEntry, objectName, rolloutEntry, sha256 } from './layout.ts';
export { PolicyStore, PolicyStoreError, RevisionConflictError } from './store.ts';
export { DryRunDecider } from './dry-run.ts';
