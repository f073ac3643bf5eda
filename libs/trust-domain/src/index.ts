export type { GenerationSummary, TrustDomainSummary } from './admin.ts';
export { describeCa, initCa, rotateCa, summarise } from './admin.ts';
export { CaStateError, KmsError } from './errors.ts';
export type { Role } from './folder.ts';
export { Files } from './folder.ts';
export type { RotateOptions, Rotation } from './generations.ts';
export {
  initTrustDomain,
  loadOrCreateTrustDomain,
  loadTrustDomain,
  rotateTrustDomain,
} from './generations.ts';
export { manifestStamp } from './manifest.ts';
export type {
  IntermediateGeneration,
  RootGeneration,
  StateOptions,
  TrustDomainMaterial,
} from './material.ts';
export type { Kms, SealedBox } from './sealing.ts';
export { decodeKek, KEK_BYTES, localKms, readKekFile, sealContext } from './sealing.ts';
export type { FolderSettings, TrustDomainConfig } from './settings.ts';
export { folderSettings, kekProblems, readKek, trustDomainConfig } from './settings.ts';
export type { Bundle } from './trust-domain.ts';
export { TrustDomain } from './trust-domain.ts';
