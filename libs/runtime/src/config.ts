import { WardenError } from '@warden/core';
import { isSpiffeId } from '@warden/pki';
import { z } from 'zod';
import { parseNatsServers } from './nats-servers.ts';

export class ConfigError extends WardenError {
  readonly problems: readonly string[];
  constructor(service: string, problems: readonly string[]) {
    super('invalid_config', `${service}: invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const port = z.coerce.number().int().min(0).max(65535);

/** `WARDEN_TRUST_DOMAIN` for the services that check SPIFFE IDs: `cluster.local` unless set. */
export const trustDomainSetting = z
  .string()
  .refine(
    (td) => !td.includes('/') && isSpiffeId(`spiffe://${td}`),
    'a SPIFFE trust domain: [a-z0-9._-], at most 255',
  )
  .default('cluster.local');

/** The settings every service reads, by environment variable. */
export const baseConfigShape = {
  /** One server, or every server of a cluster, comma-separated: the client moves to another on loss. */
  WARDEN_NATS_URL: z
    .string()
    .refine(
      (text) => parseNatsServers(text) !== null,
      'a nats:// or tls:// URL, or a comma-separated list of them',
    )
    .default('nats://127.0.0.1:4222'),
  /**
   * JetStream copies of each stream, bucket and object store this service provisions: 1 on one
   * server, 3 on a three-node cluster. Every service of a deployment uses the same count.
   */
  WARDEN_JETSTREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** This service's nkey seed file (the server refuses a connection without it when auth is on). */
  WARDEN_NATS_SEED_FILE: z.string().min(1).optional(),
  WARDEN_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  /** Port of /metrics, /healthz and /readyz; 0 picks a free one and logs it. */
  WARDEN_HTTP_PORT: port.default(0),
  WARDEN_LOG_LEVEL: logLevel.default('info'),
  /** This instance's name in events and logs; defaults to <service>-<host>-<pid>. */
  WARDEN_INSTANCE: z.string().min(1).max(200).optional(),
  /** Milliseconds a shutdown may take before the process exits anyway. */
  WARDEN_SHUTDOWN_GRACE_MS: z.coerce.number().int().positive().default(10_000),
  /** A signed audit checkpoint after this many records of this instance's chain... */
  WARDEN_AUDIT_CHECKPOINT_EVERY: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  /** ...or this many milliseconds after the first record no checkpoint covers yet. */
  WARDEN_AUDIT_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(100).max(86_400_000).default(60_000),
  /** Days WARDEN_AUDIT keeps a record; 0 keeps it for ever. Read by the stream's owner. */
  WARDEN_AUDIT_MAX_AGE_DAYS: z.coerce.number().min(0).max(36_500).default(0),
  /** Bytes WARDEN_AUDIT may hold before its oldest records go; -1 is unlimited. */
  WARDEN_AUDIT_MAX_BYTES: z.coerce.number().int().min(-1).default(-1),
};

export const baseConfig = z.object(baseConfigShape);
export type BaseConfig = z.infer<typeof baseConfig>;

/**
 * Reads and validates configuration from the environment. Every bad or missing value is reported
 * at once, naming the variable, the value given and what was expected.
 */
export function loadConfig<S extends z.ZodObject>(
  service: string,
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '(root)');
    const given = env[key];
    return `${key}=${given === undefined ? '(unset)' : JSON.stringify(given)}: ${issue.message}`;
  });
  throw new ConfigError(service, problems);
}
