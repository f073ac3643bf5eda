import { isSpiffeId, KeyAlgorithm } from '@warden/pki';
import { z } from 'zod';
import type { StateOptions } from './material.ts';
import { decodeKek, localKms, readKekFile } from './sealing.ts';

const kekBase64 = z
  .string()
  .refine((text) => {
    try {
      decodeKek(text, 'WARDEN_CA_KEK');
      return true;
    } catch {
      return false;
    }
  }, 'base64 of exactly 32 random bytes (e.g. `openssl rand -base64 32`)')
  .optional();

/**
 * The settings of a trust domain's folder, by environment variable: what the CA and
 * `warden ca init|rotate|status --dir` on its host read alike.
 */
export const trustDomainConfig = z.object({
  /** Where the root and intermediate certificates and their sealed keys live. */
  WARDEN_CA_DIR: z
    .string({ error: 'the CA state directory is required' })
    .min(1, 'the CA state directory is required'),
  /** The key-encryption key, base64 of 32 bytes; or WARDEN_CA_KEK_FILE, not both. */
  WARDEN_CA_KEK: kekBase64,
  WARDEN_CA_KEK_FILE: z.string().min(1).optional(),
  WARDEN_TRUST_DOMAIN: z
    .string()
    .refine(
      (td) => isSpiffeId(`spiffe://${td}`) && !td.includes('/'),
      'a SPIFFE trust domain: [a-z0-9._-], at most 255',
    )
    .default('cluster.local'),
  WARDEN_CA_KEY_ALGORITHM: z
    .enum([KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048])
    .default(KeyAlgorithm.ecdsaP256),
  /**
   * The longest SVID lifetime a request may ask for; also how long a retired intermediate (and
   * its root) stays trusted after its successor took over.
   */
  WARDEN_CA_MAX_TTL_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(2 * 86_400),
  WARDEN_CA_ROOT_TTL_DAYS: z.coerce.number().int().positive().max(36_500).default(3650),
  WARDEN_CA_INTERMEDIATE_TTL_DAYS: z.coerce.number().int().positive().max(3650).default(365),
  /** Constrains root and intermediate to the trust domain's URIs (RFC 5280 name constraints). */
  WARDEN_CA_NAME_CONSTRAINTS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
});
export type TrustDomainConfig = z.infer<typeof trustDomainConfig>;

type KekConfig = Pick<TrustDomainConfig, 'WARDEN_CA_KEK' | 'WARDEN_CA_KEK_FILE'>;

/** What is wrong with the KEK settings: exactly one of WARDEN_CA_KEK and WARDEN_CA_KEK_FILE is needed. */
export function kekProblems(config: KekConfig): string[] {
  if (config.WARDEN_CA_KEK && config.WARDEN_CA_KEK_FILE)
    return ['WARDEN_CA_KEK / WARDEN_CA_KEK_FILE: set one, not both'];
  if (!config.WARDEN_CA_KEK && !config.WARDEN_CA_KEK_FILE)
    return [
      'WARDEN_CA_KEK / WARDEN_CA_KEK_FILE: a key-encryption key is required (the CA never stores keys unsealed)',
    ];
  return [];
}

/** The KEK the settings name (once `kekProblems` found none); a `KmsError` says what is wrong with its file. */
export function readKek(config: KekConfig): Buffer {
  return config.WARDEN_CA_KEK
    ? decodeKek(config.WARDEN_CA_KEK, 'WARDEN_CA_KEK')
    : readKekFile(config.WARDEN_CA_KEK_FILE ?? '');
}

/** A trust domain's folder as its writers and readers take it, with the CA's longest leaf lifetime. */
export type FolderSettings = StateOptions & { readonly maxLeafTtlSeconds: number };

export function folderSettings(config: TrustDomainConfig, kek: Uint8Array): FolderSettings {
  return {
    dir: config.WARDEN_CA_DIR,
    kms: localKms(kek),
    trustDomain: config.WARDEN_TRUST_DOMAIN,
    algorithm: config.WARDEN_CA_KEY_ALGORITHM,
    rootTtlDays: config.WARDEN_CA_ROOT_TTL_DAYS,
    intermediateTtlDays: config.WARDEN_CA_INTERMEDIATE_TTL_DAYS,
    nameConstraints: config.WARDEN_CA_NAME_CONSTRAINTS,
    maxLeafTtlSeconds: config.WARDEN_CA_MAX_TTL_SECONDS,
  };
}
