import { isSpiffeId, KeyAlgorithm } from '@warden/pki';
import { ConfigError } from '@warden/runtime';
import { z } from 'zod';
import type { KubernetesSource } from './k8s-token-review.ts';
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
  /** `k8s-sat` attestation through a kubeconfig file's cluster and credentials (off when unset). */
  WARDEN_CA_KUBECONFIG: z.string().min(1, 'the path of a kubeconfig file').optional(),
  /** `k8s-sat` attestation through the pod's own service account (KUBERNETES_SERVICE_HOST/PORT). */
  WARDEN_CA_K8S_IN_CLUSTER: z
    .enum(['true', 'false'], { error: 'true or false' })
    .default('false')
    .transform((v) => v === 'true'),
  /** Audiences a service-account token must be valid for (any one); the trust domain when unset. */
  WARDEN_CA_K8S_AUDIENCES: z
    .string()
    .transform((text) => text.split(',').map((aud) => aud.trim()))
    .pipe(
      z
        .array(
          z
            .string()
            .min(1, 'a comma-separated list of audiences, none empty')
            .max(256, 'an audience of at most 256 characters')
            .regex(/^[\x21-\x7e]+$/, 'an audience of printable ASCII without spaces'),
        )
        .max(16, 'at most 16 audiences'),
    )
    .optional(),
});
export type CaConfig = z.infer<typeof caConfig>;

/** Where `k8s-sat` tokens are reviewed, and for which audiences; absent when not configured. */
export type KubernetesAttestation = {
  readonly source: KubernetesSource;
  readonly audiences: readonly string[];
};

export type ResolvedSettings = {
  readonly kek: Buffer;
  readonly kubernetes: KubernetesAttestation | undefined;
};

type CrossFieldConfig = Pick<
  CaConfig,
  | 'WARDEN_CA_KEK'
  | 'WARDEN_CA_KEK_FILE'
  | 'WARDEN_CA_DEFAULT_TTL_SECONDS'
  | 'WARDEN_CA_MAX_TTL_SECONDS'
  | 'WARDEN_TRUST_DOMAIN'
  | 'WARDEN_CA_KUBECONFIG'
  | 'WARDEN_CA_K8S_IN_CLUSTER'
  | 'WARDEN_CA_K8S_AUDIENCES'
>;

/**
 * The rules that span several variables, checked after the schema and reported together in one
 * error that reads like every other configuration error: the KEK from exactly one of
 * WARDEN_CA_KEK and WARDEN_CA_KEK_FILE, TTLs in order, and the Kubernetes attestor's source
 * (at most one; audiences only with a source).
 */
export function resolveSettings(config: CrossFieldConfig): ResolvedSettings {
  const problems: string[] = [];
  if (config.WARDEN_CA_DEFAULT_TTL_SECONDS > config.WARDEN_CA_MAX_TTL_SECONDS)
    problems.push('WARDEN_CA_DEFAULT_TTL_SECONDS: must not exceed WARDEN_CA_MAX_TTL_SECONDS');
  if (config.WARDEN_CA_KEK && config.WARDEN_CA_KEK_FILE)
    problems.push('WARDEN_CA_KEK / WARDEN_CA_KEK_FILE: set one, not both');
  if (!config.WARDEN_CA_KEK && !config.WARDEN_CA_KEK_FILE)
    problems.push(
      'WARDEN_CA_KEK / WARDEN_CA_KEK_FILE: a key-encryption key is required (the CA never stores keys unsealed)',
    );
  const kubernetes = resolveKubernetes(config, problems);
  if (problems.length > 0) throw new ConfigError('ca', problems);
  try {
    const kek = config.WARDEN_CA_KEK
      ? decodeKek(config.WARDEN_CA_KEK, 'WARDEN_CA_KEK')
      : readKekFile(config.WARDEN_CA_KEK_FILE ?? '');
    return { kek, kubernetes };
  } catch (err) {
    throw new ConfigError('ca', [`WARDEN_CA_KEK_FILE: ${err instanceof Error ? err.message : String(err)}`]);
  }
}

function resolveKubernetes(config: CrossFieldConfig, problems: string[]): KubernetesAttestation | undefined {
  const inCluster = config.WARDEN_CA_K8S_IN_CLUSTER;
  const kubeconfig = config.WARDEN_CA_KUBECONFIG;
  if (inCluster && kubeconfig) {
    problems.push('WARDEN_CA_KUBECONFIG / WARDEN_CA_K8S_IN_CLUSTER: set one, not both');
    return undefined;
  }
  if (!inCluster && !kubeconfig) {
    if (config.WARDEN_CA_K8S_AUDIENCES)
      problems.push(
        'WARDEN_CA_K8S_AUDIENCES: has no effect without WARDEN_CA_KUBECONFIG or WARDEN_CA_K8S_IN_CLUSTER=true',
      );
    return undefined;
  }
  return {
    source: kubeconfig ? { kubeconfig } : { inCluster: true },
    audiences: config.WARDEN_CA_K8S_AUDIENCES ?? [config.WARDEN_TRUST_DOMAIN],
  };
}
