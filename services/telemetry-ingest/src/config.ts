import { isLoopbackHost } from '@warden/core';
import { trustDomainSetting } from '@warden/runtime';
import { ReporterBinding } from '@warden/telemetry';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * telemetry-ingest's settings, beyond the base ones every service reads. Each is validated at
 * start; a bad value stops the service with the variable, the value and what was expected.
 */
export const ingestConfig = z.object({
  /** VictoriaMetrics (or any InfluxDB v2 write API): where the time series go. */
  WARDEN_VICTORIA_METRICS_URL: z
    .string()
    .regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL')
    .default('http://127.0.0.1:8428'),
  /**
   * Where Envoy's ALS and Warden's StreamTelemetry are served: loopback by default. Any other
   * address needs WARDEN_INGEST_TLS_DIR (`listenerProblems`).
   */
  WARDEN_INGEST_GRPC_HOST: z.string().min(1).default('127.0.0.1'),
  WARDEN_INGEST_GRPC_PORT: int(0, 65_535).default(9410),
  /**
   * A folder with this service's SVID as the agent writes it (`cert-chain.pem`, `key.pem`,
   * `root-cert.pem`, and `crl.pem` if the agent fetches CRLs). Set: the listener is mTLS, every
   * sender must present an unrevoked SVID of the trust domain, and what it reports is bound to it
   * (WARDEN_INGEST_REPORTER_BINDING). Unset: plaintext and unauthenticated, for senders on the
   * same host only.
   */
  WARDEN_INGEST_TLS_DIR: z.string().min(1).optional(),
  /** How often those files are read again: the agent replaces them at every rotation and CRL update. */
  WARDEN_INGEST_TLS_REFRESH_MS: int(100, 3_600_000).default(5000),
  /**
   * What an mTLS sender may report: `service-account` (calls its own workload, named as its SVID's
   * service account, received or made) or `namespace` (calls of any workload of its namespace).
   */
  WARDEN_INGEST_REPORTER_BINDING: z
    .enum([ReporterBinding.serviceAccount, ReporterBinding.namespace])
    .default(ReporterBinding.serviceAccount),
  /** The trust domain whose SVIDs the mTLS listener accepts. */
  WARDEN_TRUST_DOMAIN: trustDomainSetting,
  /** Largest gRPC message accepted, in bytes. */
  WARDEN_INGEST_GRPC_MAX_MESSAGE_BYTES: int(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Access records wait at most this long before going out as one event per destination. */
  WARDEN_INGEST_RECORD_FLUSH_MS: int(1, 60_000).default(200),
  /** Records held for the bus at most; past it new ones are dropped and counted. */
  WARDEN_INGEST_RECORD_BUFFER: int(1, 10_000_000).default(500_000),
  /** Records per warden.telemetry.v1.access event at most (1 MiB per message is the other bound). */
  WARDEN_INGEST_RECORDS_PER_EVENT: int(1, 10_000).default(2000),
  /** Bus publishes in flight at most (JetStream stores far more per second with many in flight). */
  WARDEN_INGEST_PUBLISH_CONCURRENCY: int(1, 4096).default(64),
  /** How long a feature window stays open after its end for late records. */
  WARDEN_INGEST_FEATURE_GRACE_MS: int(0, 60_000).default(2000),
  /** Feature accumulators open at most (windows × workloads × edges). */
  WARDEN_INGEST_FEATURE_MAX_OPEN: int(10, 10_000_000).default(200_000),
  /** Feature events waiting for the bus at most; past it they are dropped and counted. */
  WARDEN_INGEST_FEATURE_BUFFER: int(1, 10_000_000).default(100_000),
  /** How often every live counter is written to the time-series database. */
  WARDEN_INGEST_SERIES_INTERVAL_MS: int(100, 600_000).default(1000),
  /** Distinct series kept at most; records for new label sets past it are counted, not written. */
  WARDEN_INGEST_MAX_SERIES: int(1, 10_000_000).default(100_000),
  /** Lines buffered for the database at most (while it is down); past it the oldest are dropped and counted. */
  WARDEN_INGEST_SERIES_BUFFER_LINES: int(1, 100_000_000).default(2_000_000),
  /** Lines per write request at most. */
  WARDEN_INGEST_SERIES_BATCH_LINES: int(1, 1_000_000).default(10_000),
});

export type IngestConfig = z.infer<typeof ingestConfig>;

/**
 * What is wrong with the listener's settings taken together (each is valid alone): telemetry can
 * lead to containment, so a listener other hosts may reach must know who is reporting.
 */
export function listenerProblems(config: IngestConfig): string[] {
  const host = config.WARDEN_INGEST_GRPC_HOST;
  if (config.WARDEN_INGEST_TLS_DIR || isLoopbackHost(host)) return [];
  return [
    `WARDEN_INGEST_GRPC_HOST=${JSON.stringify(host)}: not a loopback address, so WARDEN_INGEST_TLS_DIR must be set (the folder with this service's SVID): otherwise anyone who can reach the listener could report forged calls, and what is reported can lead to the containment of the workloads named in it`,
  ];
}
