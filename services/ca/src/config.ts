import { messageOf } from '@warden/core';
import { JOIN_TOKEN_MAX_TTL_MS } from '@warden/events';
import { ConfigError, redisAuthConfigShape } from '@warden/runtime';
import { kekProblems, readKek, trustDomainConfig } from '@warden/trust-domain';
import { z } from 'zod';
import type { KubernetesSource } from './k8s-token-review.ts';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const DAY = 86_400;

/**
 * The CA's settings beyond the base ones, by environment variable: its folder's (the trust
 * domain, the KEK, the key algorithm and lifetimes, read by `warden ca init|rotate` alike), then
 * its own.
 */
export const caConfig = trustDomainConfig.extend({
  WARDEN_REDIS_URL: z
    .string({ error: 'the Redis URL for join tokens and the issued index is required' })
    .regex(/^rediss?:\/\/\S+$/, 'a redis:// or rediss:// URL'),
  ...redisAuthConfigShape,
  /** SVID lifetime when a request names none (ARCHITECTURE §3: 24 h). */
  WARDEN_CA_DEFAULT_TTL_SECONDS: seconds(DAY),
  /** The longest lifetime of a join token; at most 29 days, which their used-record outlives. */
  WARDEN_CA_TOKEN_MAX_TTL_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .max(JOIN_TOKEN_MAX_TTL_MS / 1000, 'at most 29 days (2505600 seconds)')
    .default(DAY),
  /** The bundle and CRL over HTTP (GET /v1/bundle.pem, /v1/crl); 0 picks a free port and logs it. */
  WARDEN_CA_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  WARDEN_CA_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
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
  problems.push(...kekProblems(config));
  const kubernetes = resolveKubernetes(config, problems);
  if (problems.length > 0) throw new ConfigError('ca', problems);
  try {
    return { kek: readKek(config), kubernetes };
  } catch (err) {
    throw new ConfigError('ca', [`WARDEN_CA_KEK_FILE: ${messageOf(err)}`]);
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
