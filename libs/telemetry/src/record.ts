/**
 * An access record, the shape of `accessRecord` in `@warden/events` (the bus contract), written
 * out here because this lib is pure and may not import the bus. The bus validates every record
 * against the catalogue's schema on publish, so a drift between the two fails loudly there.
 */
export type Endpoint = {
  namespace?: string;
  workload?: string;
  principal?: string;
  address?: string;
  port?: number;
};

export type Protocol = 'http' | 'grpc' | 'tcp';

export type AccessRecord = {
  time: string;
  source: Endpoint;
  destination: Endpoint;
  protocol: Protocol;
  method?: string;
  path?: string;
  status?: number;
  durationMs?: number;
  bytesSent?: number;
  bytesReceived?: number;
  decision?: 'allow' | 'deny';
  reason?: string;
  policy?: string;
  revision?: number;
};

/** The limits of the catalogue's schema, applied while translating so a record never fails it. */
export const RecordLimits = {
  path: 8192,
  method: 32,
  address: 64,
  principal: 2048,
  name: 253,
} as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A namespace as the catalogue accepts it (a DNS-1123 label), or nothing. */
export const namespaceOrNone = (value: string | undefined): string | undefined =>
  value && DNS_LABEL.test(value) ? value : undefined;

/** A workload name within the catalogue's bounds, or nothing. */
export const nameOrNone = (value: string | undefined): string | undefined =>
  value && value.length <= RecordLimits.name ? value : undefined;

const QUALIFIER = /^[A-Za-z0-9_-]{1,128}$/;

/** A subject qualifier for a name: the name when it is one safe token, else `unknown`. */
export const qualifierOf = (value: string | undefined): string =>
  value && QUALIFIER.test(value) ? value : 'unknown';
