/**
 * What host builtins share within one evaluation: OPA fixes "now" once per query (every
 * `time.now_ns()` call of an evaluation returns the same value) and `uuid.rfc4122(k)` is
 * deterministic for the same `k` within a query. Warden's "now" is the request's own time when
 * the input carries one (`input.attributes.request.time`, as opa-envoy-plugin fills it).
 */
import { randomUUID } from 'node:crypto';
import { parseRfc3339Ns } from './time.ts';

export class BuiltinContext {
  #input: unknown;
  #now: bigint | undefined;
  #uuids = new Map<string, string>();

  /** Starts an evaluation of `input`. */
  begin(input: unknown): void {
    this.#input = input;
    this.#now = undefined;
    // Map.clear allocates a new table in V8: only when there is something to clear (hot path).
    if (this.#uuids.size > 0) this.#uuids.clear();
  }

  /** Nanoseconds since the epoch: the request's time, else the evaluation's one "now". */
  now(): bigint {
    if (this.#now === undefined) this.#now = requestTime(this.#input) ?? wallClockNs();
    return this.#now;
  }

  uuid(key: string): string {
    let id = this.#uuids.get(key);
    if (id === undefined) {
      id = randomUUID();
      this.#uuids.set(key, id);
    }
    return id;
  }
}

function wallClockNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** `attributes.request.time` as protojson renders a Timestamp (RFC 3339) or as `{seconds, nanos}`. */
function requestTime(input: unknown): bigint | undefined {
  const time = dig(input, ['attributes', 'request', 'time']);
  if (typeof time === 'string') {
    try {
      return parseRfc3339Ns(time);
    } catch {
      return undefined;
    }
  }
  if (typeof time === 'object' && time !== null) {
    const { seconds, nanos } = time as { seconds?: unknown; nanos?: unknown };
    if (typeof seconds !== 'string' && typeof seconds !== 'number') return undefined;
    if (!/^-?\d+$/.test(String(seconds))) return undefined;
    const ns = typeof nanos === 'number' && Number.isInteger(nanos) ? BigInt(nanos) : 0n;
    return BigInt(String(seconds)) * 1_000_000_000n + ns;
  }
  return undefined;
}

function dig(value: unknown, path: string[]): unknown {
  let at = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}
