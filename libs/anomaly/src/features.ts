import { FeatureName } from '@warden/telemetry';

/**
 * The windowed features (per workload or per edge, over 1 s and 10 s windows) that the rules and
 * the LSTM read, named as telemetry-ingest publishes them: `FeatureName` in `@warden/telemetry` is
 * the one list of names, so a rule written here reads the bus's windows unchanged. A feature
 * vector is a plain `Record<string, number>`: a producer may add features, and a rule whose
 * feature is absent from a window is not evaluated on it.
 */
export const Feature = {
  requests: FeatureName.requests,
  errors4xx: FeatureName.status4xx,
  errors5xx: FeatureName.status5xx,
  /** 401 and 403 responses: failed or refused credentials. */
  authFailures: FeatureName.authFailures,
  /** 5xx / requests, 0 without requests. */
  errorRate: FeatureName.errorRate,
  latencyP50Ms: FeatureName.latencyP50Ms,
  latencyP99Ms: FeatureName.latencyP99Ms,
  bytesIn: FeatureName.bytesIn,
  bytesOut: FeatureName.bytesOut,
  distinctPeers: FeatureName.distinctPeers,
  distinctPaths: FeatureName.distinctPaths,
  distinctPorts: FeatureName.distinctPorts,
  /** Requests the decision point denied. */
  denies: FeatureName.denies,
} as const;
export type Feature = (typeof Feature)[keyof typeof Feature];

/** Every feature, in a fixed order: the LSTM's input columns when none are given. */
export const featureNames: readonly Feature[] = Object.values(Feature);

/** One window of features for one key (a workload `ns/name` or an edge `ns/a->ns/b`). */
export type FeatureWindow = {
  key: string;
  /** Window end, milliseconds since the epoch. */
  end: number;
  features: Readonly<Record<string, number>>;
};
