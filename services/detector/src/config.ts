import { isLoopbackHost } from '@warden/core';
import { FEED_LIST_HELP, FEED_LIST_PATTERN } from '@warden/telemetry';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The detector's settings, beyond the base ones every service reads; validated at start. */
export const detectorConfig = z.object({
  /**
   * The Alertmanager v2 receiver (`POST /api/v2/alerts`) that vmalert notifies. Loopback by
   * default: an alert can lead to containment, so its sender must be trusted.
   */
  WARDEN_DETECTOR_RECEIVER_HOST: z.string().min(1).default('127.0.0.1'),
  WARDEN_DETECTOR_RECEIVER_PORT: int(0, 65_535).default(9412),
  /**
   * A file holding the bearer token notifications must carry (vmalert's `-notifier.bearerTokenFile`);
   * unset: no token is asked for, and only the loopback binding protects the receiver (so it is
   * required on any other address; `receiverProblems`).
   */
  WARDEN_DETECTOR_RECEIVER_TOKEN_FILE: z.string().min(1).optional(),
  /** Largest notification body accepted, in bytes. */
  WARDEN_DETECTOR_RECEIVER_MAX_BYTES: int(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** How often firing alerts whose `endsAt` passed without a refresh are resolved. */
  WARDEN_DETECTOR_EXPIRY_INTERVAL_MS: int(100, 60_000).default(1000),
  /**
   * How long a standby replica holds an alert change before announcing it itself, if the lease
   * holder has not: longer than the holder takes (its evidence look-ups take up to a second).
   */
  WARDEN_DETECTOR_STANDBY_DELAY_MS: int(500, 60_000).default(3000),
  /**
   * Threat-intelligence feeds, comma-separated `<name>=<format>:<file or http(s) URL>`, formats
   * plain, firehol, spamhaus-drop, spiffe; e.g.
   * `drop=spamhaus-drop:https://www.spamhaus.org/drop/drop_v4.json,mine=plain:/etc/warden/block.txt`.
   */
  WARDEN_DETECTOR_FEEDS: z.string().regex(FEED_LIST_PATTERN, FEED_LIST_HELP).default(''),
  /** How often feeds are loaded again. */
  WARDEN_DETECTOR_FEED_REFRESH_MS: int(1000, 7 * 24 * 3_600_000).default(3_600_000),
  /** Largest feed accepted, in bytes. */
  WARDEN_DETECTOR_FEED_MAX_BYTES: int(1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** A threat-intelligence alert resolves once its source has not been seen for this long. */
  WARDEN_DETECTOR_THREAT_QUIET_MS: int(1000, 24 * 3_600_000).default(300_000),
  /** A streaming-rule or baseline alert resolves once it has not fired again for this long. */
  WARDEN_DETECTOR_STREAM_QUIET_MS: int(1000, 24 * 3_600_000).default(30_000),
  /** 1 s windows in each workload's rolling baseline for the streaming rules' z-scores. */
  WARDEN_DETECTOR_RULES_BASELINE_WINDOWS: int(10, 86_400).default(600),
  /** Windows a workload needs before its z-scores count (before: only a multiple of the threshold fires). */
  WARDEN_DETECTOR_RULES_WARMUP_WINDOWS: int(1, 86_400).default(30),
  /** The behaviour baseline's calibrated score at or above which it alerts. */
  WARDEN_DETECTOR_ALERT_SCORE: z.coerce.number().gt(0).max(1).default(0.85),
});

export type DetectorConfig = z.infer<typeof detectorConfig>;

/**
 * What is wrong with the receiver's settings taken together (each is valid alone): an alert can
 * lead to containment, so a receiver that other hosts may reach must ask for the token.
 */
export function receiverProblems(config: DetectorConfig): string[] {
  const host = config.WARDEN_DETECTOR_RECEIVER_HOST;
  if (config.WARDEN_DETECTOR_RECEIVER_TOKEN_FILE || isLoopbackHost(host)) return [];
  return [
    `WARDEN_DETECTOR_RECEIVER_HOST=${JSON.stringify(host)}: not a loopback address, so WARDEN_DETECTOR_RECEIVER_TOKEN_FILE must be set (vmalert's -notifier.bearerTokenFile): otherwise anyone who can reach the receiver could raise alerts, and alerts lead to containment`,
  ];
}
