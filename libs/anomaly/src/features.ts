/**
 * The names of the windowed features (per workload or per edge, over 1 s and 10 s windows) that
 * the rules and the LSTM read. A feature vector is a plain `Record<string, number>`: a producer
 * may add features, and a rule whose feature is absent from a window is not evaluated on it.
 */
export const Feature = {
  requests: 'requests',
  errors4xx: 'errors4xx',
  errors5xx: 'errors5xx',
  /** 401 and 403 responses: failed or refused credentials. */
  authFailures: 'authFailures',
  /** (4xx + 5xx) / requests, 0 without requests. */
  errorRate: 'errorRate',
  latencyP50Ms: 'latencyP50Ms',
  latencyP99Ms: 'latencyP99Ms',
  bytesIn: 'bytesIn',
  bytesOut: 'bytesOut',
  distinctPeers: 'distinctPeers',
  distinctPaths: 'distinctPaths',
  distinctPorts: 'distinctPorts',
  /** Requests the decision point denied. */
  denies: 'denies',
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
