export type { FollowerOptions } from './follower.ts';
export { buildRevision, PolicyFollower } from './follower.ts';
export type { Bundle, Manifest, ManifestEntry } from './layout.ts';
export { bundle, canonicalJson, kvKey, manifest, manifestEntry, objectName, sha256 } from './layout.ts';
export { PolicyStore, PolicyStoreError, RevisionConflictError } from './store.ts';
export { DryRunDecider } from './dry-run.ts';
