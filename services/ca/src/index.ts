// For tests and tools that run the CA in-process; services never import each other (ESLint).
export type { CaConfig } from './config.ts';
export { caConfig } from './config.ts';
export { CaError, ReviewerUnavailableError, TokenRejectedError, TokenRequestError } from './errors.ts';
export type { TokenReviewer, TokenReviewResult } from './k8s-attestor.ts';
export { kubernetesTokenAttestor } from './k8s-attestor.ts';
export type { KubernetesSource } from './k8s-token-review.ts';
export { ApiTokenReviewer, loadKubeConfig } from './k8s-token-review.ts';
export type { CaDeps, RunningCa } from './service.ts';
export { startCa } from './service.ts';
export { caService } from './spec.ts';
// The folder's layout and sealing, where the CA's tests read them; their home is @warden/trust-domain.
export type { Kms, SealedBox } from '@warden/trust-domain';
export { decodeKek, Files, KEK_BYTES, KmsError, localKms, sealContext } from '@warden/trust-domain';
