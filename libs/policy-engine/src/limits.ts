/**
 * Limits on what one policy submission may hold, checked before anything else looks at it: the
 * `data` document is untrusted input that later code serialises recursively (canonical JSON,
 * the Wasm loader), so its depth is measured here without recursion, and its size before it is
 * compiled or stored.
 */
import type { Issue } from './errors.ts';

export type PolicyLimits = {
  /** Largest Rego `data` document, in bytes of JSON. */
  maxDataBytes: number;
  /** Deepest nesting of objects and arrays in `data`. */
  maxDepth: number;
};

export const DEFAULT_POLICY_LIMITS: Readonly<PolicyLimits> = { maxDataBytes: 512 * 1024, maxDepth: 64 };

/** Whether `value` nests objects and arrays deeper than `limit`; stops at the first such path. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [v, depth] = next;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Issues with a Rego submission's `data` document, or none. */
export function checkDataLimits(data: unknown, limits: PolicyLimits, file?: string): Issue[] {
  if (data === undefined) return [];
  const at = { line: 1, column: 1, path: 'data', ...(file ? { file } : {}) };
  if (nestsDeeperThan(data, limits.maxDepth))
    return [
      {
        code: 'data_too_deep',
        message: `data nests objects and arrays deeper than ${limits.maxDepth} levels`,
        ...at,
      },
    ];
  const bytes = Buffer.byteLength(JSON.stringify(data));
  if (bytes > limits.maxDataBytes)
    return [
      {
        code: 'data_too_large',
        message: `data is ${bytes} bytes of JSON; at most ${limits.maxDataBytes} are accepted`,
        ...at,
      },
    ];
  return [];
}
