import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trustDomainSetting } from '@warden/runtime';
import { FEED_LIST_HELP, FEED_LIST_PATTERN } from '@warden/telemetry';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * The enforcer's settings beyond the base ones; each is validated at start, and a bad value stops
 * the service naming the variable, the value and what was expected.
 */
export const enforcerConfig = z.object({
  /** Where Envoy's ext_authz filter calls (OPA-Envoy's port by default). */
  WARDEN_ENFORCER_EXT_AUTHZ_HOST: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port (tests). */
  WARDEN_ENFORCER_EXT_AUTHZ_PORT: int(0, 65_535).default(9191),
  /**
   * `host:port` at which Envoy sidecars reach ext_authz, as ADS tells them (a Service name in
   * Kubernetes); by default the listener's own host and port.
   */
  WARDEN_ENFORCER_EXT_AUTHZ_ADVERTISE: z
    .string()
    .regex(/^(\[[0-9a-fA-F:]+\]|[^\s:[\]]+):([1-9][0-9]{0,4})$/, 'host:port')
    .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65_535, 'a port up to 65535')
    .optional(),
  /** Envoy's deadline for one ext_authz call; past it the request is denied (fail closed). */
  WARDEN_ENFORCER_ENVOY_EXT_AUTHZ_TIMEOUT_MS: int(10, 60_000).default(500),
  /** Request body bytes Envoy buffers and sends to ext_authz (`parsed_body`); longer bodies go truncated. */
  WARDEN_ENFORCER_ENVOY_MAX_REQUEST_BYTES: int(0, 1_048_576).default(8192),
  /**
   * Deny a Check that carries no peer certificate (Envoy's `include_peer_certificate: true` sends
   * it): without it a revoked identity cannot be told apart. `false` trusts the principal alone.
   */
  WARDEN_ENFORCER_REQUIRE_PEER_CERTIFICATE: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Where Envoy and proxyless gRPC workloads fetch their configuration (ADS); Istio's xDS port. */
  WARDEN_ENFORCER_XDS_HOST: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port (tests). */
  WARDEN_ENFORCER_XDS_PORT: int(0, 65_535).default(15010),
  /**
   * Changes (a policy revision, containment, the registry) are gathered this long before one push:
   * the upper bound on how late a change reaches the data planes, beside the build itself.
   */
  WARDEN_ENFORCER_XDS_DEBOUNCE_MS: int(5, 10_000).default(10),
  /** The SPIFFE trust domain whose peers the listeners accept. */
  WARDEN_TRUST_DOMAIN: trustDomainSetting,
  /** How often expired containment rules are removed from the bucket (they stop applying at once). */
  WARDEN_ENFORCER_CONTAINMENT_SWEEP_MS: int(100, 3_600_000).default(10_000),
  /** A YAML file of HAProxy terminators to drive (`terminators:`); unset: none. */
  WARDEN_ENFORCER_TERMINATORS_FILE: z.string().min(1).optional(),
  /** Where each terminator's configuration, maps, certificate and runtime socket live. */
  WARDEN_ENFORCER_TERMINATOR_DIR: z.string().min(1).default(join(tmpdir(), 'warden-terminators')),
  /**
   * Threat-intelligence feeds whose listed sources the decision point denies (ARCHITECTURE §4
   * step 3), as the detector's `WARDEN_DETECTOR_FEEDS`: comma-separated
   * `<name>=<plain|firehol|spamhaus-drop|spiffe>:<file or http(s) URL>`.
   */
  WARDEN_ENFORCER_FEEDS: z.string().regex(FEED_LIST_PATTERN, FEED_LIST_HELP).default(''),
  /** How often feeds are loaded again; a feed that fails to load keeps its previous entries. */
  WARDEN_ENFORCER_FEED_REFRESH_MS: int(1000, 7 * 24 * 3_600_000).default(3_600_000),
  /** Largest feed accepted, in bytes. */
  WARDEN_ENFORCER_FEED_MAX_BYTES: int(1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** A YAML file of playbooks turning alerts into containment; unset: no playbooks. */
  WARDEN_ENFORCER_PLAYBOOKS_FILE: z.string().min(1).optional(),
  /** Share of allowed requests recorded on the bus (every deny is). */
  WARDEN_ENFORCER_ALLOW_SAMPLE: z.coerce.number().min(0).max(1).default(0.01),
  /** Decision records are published in batches, at most this often per destination. */
  WARDEN_ENFORCER_RECORD_FLUSH_MS: int(10, 60_000).default(250),
  /** Records held while the bus is slow or away; past it they are dropped and counted. */
  WARDEN_ENFORCER_RECORD_BUFFER: int(1, 1_000_000).default(10_000),
});
export type EnforcerConfig = z.infer<typeof enforcerConfig>;
