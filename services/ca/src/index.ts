// For tests and tools that run the CA in-process; services never import each other (ESLint).
import type { ServiceSpec } from '@warden/runtime';
import { startCa } from './ca.ts';
import { caConfig } from './config.ts';

export { startCa } from './ca.ts';
export type { CaConfig } from './config.ts';
export { caConfig } from './config.ts';
export { CaError, KmsError } from './errors.ts';
export type { Kms, SealedBox } from './kms.ts';
export { decodeKek, KEK_BYTES, localKms } from './kms.ts';
export { Files, sealContext } from './state.ts';

/** The CA as a service spec for `runService` / `main`. */
export const caService: ServiceSpec<typeof caConfig> = { name: 'ca', config: caConfig, start: startCa };
