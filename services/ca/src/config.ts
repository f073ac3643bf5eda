import { isSpiffeId, KeyAlgorithm } from '@warden/pki';
import { ConfigError } from '@warden/runtime';
import { z } from 'zod';
import { decodeKek, readKekFile } from './kms.ts';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const DAY = 86_400;

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

/** The CA's settings beyond the base ones, by environment variable. */
export const caConfig = z.object({
  /** Where the root and intermediate certificates and their sealed keys live. */
  WARDEN_CA_DIR: z
    .string({ error: 'the CA state directory is required' })
    .min(1, 'the CA state directory is required'),
  /** The key-encryption key, base64 of 32 bytes; or WARDEN_CA_KEK_FILE, not both. */
  WARDEN_CA_KEK: kekBase64,
  WARDEN_CA_KEK_FILE: z.string().min(1).optional(),
  WARDEN_REDIS_URL: z
    .string({ error: 'the Redis URL for join tokens and the issued index is required' })
    .regex(/^rediss?:\/\/\S+$/, 'a redis:// or rediss:// URL'),
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
  /** SVID lifetime when a request names none (DESIGN §3: 24 h). */
  WARDEN_CA_DEFAULT_TTL_SECONDS: seconds(DAY),
  /** The longest SVID lifetime a request may ask for. */
  WARDEN_CA_MAX_TTL_SECONDS: seconds(2 * DAY),
  /** The longest lifetime of a join token. */
  WARDEN_CA_TOKEN_MAX_TTL_SECONDS: seconds(DAY),
  WARDEN_CA_ROOT_TTL_DAYS: z.coerce.number().int().positive().max(36_500).default(3650),
  WARDEN_CA_INTERMEDIATE_TTL_DAYS: z.coerce.number().int().positive().max(3650).default(365),
  /** The bundle and CRL over HTTP (GET /v1/bundle.pem, /v1/crl); 0 picks a free port and logs it. */
  WARDEN_CA_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  WARDEN_CA_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  /** Constrains root and intermediate to the trust domain's URIs (RFC 5280 name constraints). */
  WARDEN_CA_NAME_CONSTRAINTS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
});
export type CaConfig = z.infer<typeof caConfig>;

/**
 * The KEK from exactly one of WARDEN_CA_KEK and WARDEN_CA_KEK_FILE. A cross-field rule, so it is
 * checked here rather than in the schema; its error reads like every other configuration error.
 */
export function resolveKek(
  config: Pick<
    CaConfig,
    'WARDEN_CA_KEK' | 'WARDEN_CA_KEK_FILE' | 'WARDEN_CA_DEFAULT_TTL_SECONDS' | 'WARDEN_CA_MAX_TTL_SECONDS'
  >,
): Buffer {
  const problems: string[] = [];
  if (config.WARDEN_CA_DEFAULT_TTL_SECONDS > config.WARDEN_CA_MAX_TTL_SECONDS)
    problems.push('WARDEN_CA_DEFAULT_TTL_SECONDS: must not exceed WARDEN_CA_MAX_TTL_SECONDS');
  if (config.WARDEN_CA_KEK && config.WARDEN_CA_KEK_FILE)
    problems.push('WARDEN_CA_KEK / WARDEN_CA_KEK_FILE: set one, not both');
  if (!config.WARDEN_CA_KEK && !config.WARDEN_CA_KEK_FILE)
    problems.push(
      'WARDEN_CA_KEK / WARDEN_CA_KEK_FILE: a key-encryption key is required (the CA never stores keys unsealed)',
    );
  if (problems.length > 0) throw new ConfigError('ca', problems);
  try {
    return config.WARDEN_CA_KEK
      ? decodeKek(config.WARDEN_CA_KEK, 'WARDEN_CA_KEK')
      : readKekFile(config.WARDEN_CA_KEK_FILE ?? '');
  } catch (err) {
    throw new ConfigError('ca', [`WARDEN_CA_KEK_FILE: ${err instanceof Error ? err.message : String(err)}`]);
  }
}
