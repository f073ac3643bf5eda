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
   * unset: no token is asked for, and only the loopback binding protects the receiver.
   */
  WARDEN_DETECTOR_RECEIVER_TOKEN_FILE: z.string().min(1).optional(),
  /** Largest notification body accepted, in bytes. */
  WARDEN_DETECTOR_RECEIVER_MAX_BYTES: int(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** How often firing alerts whose `endsAt` passed without a refresh are resolved. */
  WARDEN_DETECTOR_EXPIRY_INTERVAL_MS: int(100, 60_000).default(1000),
});

export type DetectorConfig = z.infer<typeof detectorConfig>;
