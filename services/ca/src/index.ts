// For tests and tools that run the CA in-process; services never import each other (ESLint).
import type { ServiceSpec } from '@warden/runtime';
import { startCa } from './ca.ts';
import { caConfig } from './config.ts';

export { startCa } from './ca.ts';
export type { CaConfig } from './config.ts';
export { caConfig } from './config.ts';
export { CaError, KmsError, ReviewerUnavailableError, TokenRejectedError } from './errors.ts';
export type { TokenReviewer, TokenReviewResult } from './k8s-attestor.ts';
export { kubernetesTokenAttestor } from './k8s-attestor.ts';
export type { KubernetesSource } from './k8s-token-review.ts';
export { ApiTokenReviewer, loadKubeConfig } from './k8s-token-review.ts';
export type { Kms, SealedBox } from './kms.ts';
export { decodeKek, KEK_BYTES, localKms } from './kms.ts';
export type { AdminSettings, TrustDomainSummary } from './admin.ts';
export { adminSettings, describeCa, initCa, rotateCa } from './admin.ts';
export { Files, sealContext } from './state.ts';

/** The CA as a service spec for `runService` / `main`. */
export const caService: ServiceSpec<typeof caConfig> = { name: 'ca', config: caConfig, start: startCa };
