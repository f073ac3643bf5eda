/**
 * RFC 8785 (JSON Canonicalization Scheme) for the values an audit record holds: object members
 * sorted by their UTF-16 code units, no whitespace, strings and numbers written as ECMAScript's
 * `JSON.stringify` writes them (which is what RFC 8785 specifies for both). A value JSON cannot
 * carry (a non-finite number, `undefined`, a function) is refused rather than silently dropped:
 * two records that differ only there would otherwise hash the same. An object with `toJSON` (a
 * `Date`) is written as `JSON.stringify` would write it.
 */
export function canonicalJson(value: unknown): string {
  const sorted = sortedCopy(value);
  return sorted === NEEDS_GENERAL_PATH ? canonicalJsonByHand(value) : JSON.stringify(sorted);
}

/** An array index as a member name: engines list those first, in numeric order. */
const INDEX_KEY = /^(?:0|[1-9][0-9]{0,9})$/;
const NEEDS_GENERAL_PATH = Symbol('needs the general path');

const jsonOf = (value: unknown): unknown =>
  typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function'
    ? (value as { toJSON(): unknown }).toJSON()
    : value;

function checkScalar(value: unknown): void {
  if (typeof value === 'number' && !Number.isFinite(value))
    throw new TypeError(`canonical JSON has no ${String(value)}`);
  if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
    throw new TypeError(`canonical JSON has no ${typeof value}`);
}

/**
 * A copy with every object's members inserted in canonical order, for `JSON.stringify` to write:
 * several times faster than writing it by hand. An object with an index-like member name cannot
 * be ordered that way (engines list those first), so it takes the general path.
 */
function sortedCopy(input: unknown): unknown {
  const value = jsonOf(input);
  if (typeof value !== 'object' || value === null) {
    checkScalar(value);
    return value;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      const copy = sortedCopy(item);
      if (copy === NEEDS_GENERAL_PATH) return copy;
      out.push(copy);
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    if (INDEX_KEY.test(key)) return NEEDS_GENERAL_PATH;
    const member = (value as Record<string, unknown>)[key];
    // Optional members left undefined are absent in JSON as well.
    if (member === undefined) continue;
    const copy = sortedCopy(member);
    if (copy === NEEDS_GENERAL_PATH) return copy;
    out[key] = copy;
  }
  return out;
}

/** Writes canonical JSON member by member: for objects `sortedCopy` cannot order. */
function canonicalJsonByHand(input: unknown): string {
  const value = jsonOf(input);
  if (typeof value !== 'object' || value === null) {
    checkScalar(value);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJsonByHand).join(',')}]`;
  const record = value as Record<string, unknown>;
  let out = '{';
  let first = true;
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJsonByHand(member)}`;
    first = false;
  }
  return `${out}}`;
}
/** Whether every object in a parsed JSON value already lists its members in canonical order. */
function inCanonicalOrder(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (!inCanonicalOrder(item)) return false;
    return true;
  }
  let previous: string | undefined;
  for (const key in value) {
    if (previous !== undefined && !(previous < key)) return false;
    previous = key;
    if (!inCanonicalOrder((value as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/**
 * `canonicalJson` of a value that came from `JSON.parse`. Records are stored with their members
 * already in canonical order, so for them the engine's own `JSON.stringify` writes the same text
 * several times faster; anything else takes the general path. (A parsed value holds no
 * `undefined`, non-finite number or `toJSON`, where the two would differ.)
 */
export function canonicalJsonOfParsed(value: unknown): string {
  return inCanonicalOrder(value) ? JSON.stringify(value) : canonicalJson(value);
}
