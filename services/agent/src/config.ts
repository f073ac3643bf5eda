import type { BackoffPolicy } from '@warden/core';
import { isSpiffeId, KeyAlgorithm } from '@warden/pki';
import { ConfigError, trustDomainSetting } from '@warden/runtime';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const ratio = (min: number, max: number) => z.coerce.number().min(min).max(max);

/** A host name as it appears in `warden.identity.v1.entry` events; also part of consumer names. */
export const hostName = z
  .string({ error: 'the host this agent serves is required' })
  .regex(
    /^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/,
    'a host name: letters, digits, - and _, at most 63, not starting or ending with - or _',
  );

/**
 * The agent's settings beyond the base ones, by environment variable. Each is validated at start;
 * a bad value stops the agent naming the variable, the value given and what was expected.
 */
export const agentConfig = z.object({
  /** The host whose workloads this agent serves; entry events for other hosts are ignored. */
  WARDEN_AGENT_HOST: hostName,
  /** The agent's own state: cached SVIDs and private keys (0600), the bundle, event-sourced entries. */
  WARDEN_AGENT_DIR: z
    .string({ error: 'the agent state directory is required' })
    .min(1, 'the agent state directory is required'),
  /** A YAML file of registration entries; unset: entries come from events only. */
  WARDEN_AGENT_ENTRIES_FILE: z.string().min(1).optional(),
  WARDEN_AGENT_ENTRIES_MAX_BYTES: int(1, 64 * 1024 * 1024).default(1024 * 1024),
  /** How often the entries file is checked for changes, in ms; 0: read once at start. */
  WARDEN_AGENT_ENTRIES_POLL_MS: int(0, 3_600_000).default(2000),
  /** Where Envoy's SDS is served (a Unix socket path); unset: no SDS. */
  WARDEN_AGENT_SDS_SOCKET: z.string().min(1).max(100, 'a Unix socket path of at most 100 bytes').optional(),
  WARDEN_TRUST_DOMAIN: trustDomainSetting,
  /** Key algorithm for entries that name none (ARCHITECTURE §3: ECDSA P-256 by default). */
  WARDEN_AGENT_KEY_ALGORITHM: z
    .enum([KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048])
    .default(KeyAlgorithm.ecdsaP256),
  /** SVID lifetime asked of the CA for entries that name none; unset: the CA's default. */
  WARDEN_AGENT_SVID_TTL_SECONDS: int(1, 30 * 86_400).optional(),
  /** Rotate when this fraction of the lifetime remains (Istio: SECRET_GRACE_PERIOD_RATIO, 0.5). */
  WARDEN_AGENT_ROTATION_RATIO: ratio(0.05, 0.95).default(0.5),
  /** Random spread of that fraction, either way (Istio: SECRET_GRACE_PERIOD_RATIO_JITTER, 0.01). */
  WARDEN_AGENT_ROTATION_JITTER: ratio(0, 0.2).default(0.01),
  /** First retry delay after a failed CA request; doubles up to the cap. */
  WARDEN_AGENT_RETRY_INITIAL_MS: int(10, 600_000).default(1000),
  WARDEN_AGENT_RETRY_MAX_MS: int(10, 3_600_000).default(60_000),
  WARDEN_AGENT_CA_TIMEOUT_MS: int(100, 120_000).default(5000),
  /** The CA's CRLs (its GET /v1/crl.pem), written as crl.pem beside root-cert.pem; unset: no crl.pem. */
  WARDEN_AGENT_CRL_URL: z
    .url({
      protocol: /^https?$/,
      error: "an http:// or https:// URL: the CA's /v1/crl.pem, e.g. http://127.0.0.1:9409/v1/crl.pem",
    })
    .optional(),
  /**
   * How often the CRL is fetched again, in ms, besides right after every revocation event; a CRL
   * halfway to its nextUpdate is fetched sooner.
   */
  WARDEN_AGENT_CRL_REFRESH_MS: int(1000, 3_600_000).default(300_000),
});
export type AgentConfig = z.infer<typeof agentConfig>;

/**
 * The backoff after a failed CA request or CRL fetch. A cross-field rule, so checked here rather
 * than in the schema; it reads like every other configuration error.
 */
export function retryBackoff(config: AgentConfig): BackoffPolicy {
  if (config.WARDEN_AGENT_RETRY_INITIAL_MS > config.WARDEN_AGENT_RETRY_MAX_MS)
    throw new ConfigError('agent', [
      'WARDEN_AGENT_RETRY_INITIAL_MS: must not exceed WARDEN_AGENT_RETRY_MAX_MS',
    ]);
  return { initialMs: config.WARDEN_AGENT_RETRY_INITIAL_MS, maxMs: config.WARDEN_AGENT_RETRY_MAX_MS };
}

export const spiffeIdString = z.string().refine(isSpiffeId, 'a SPIFFE ID (spiffe://<trust domain>/<path>)');
