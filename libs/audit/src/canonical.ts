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

/** An array index as a member name. */
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

/** An index-like member name: engines list those first, whatever the insertion order. */
function isIndexKey(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 48 && first <= 57 && INDEX_KEY.test(key);
}

/**
 * Sorts member names by UTF-16 code units, as `Array.prototype.sort` does by default: by
 * insertion for the few members a record's objects have, where it is several times faster.
 */
function sortKeys(keys: string[]): void {
  if (keys.length > 16) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > key; j--) keys[j + 1] = keys[j] as string;
    keys[j + 1] = key;
  }
}

const hasToJson = (value: object): boolean => typeof (value as { toJSON?: unknown }).toJSON === 'function';

/**
 * The value with every object's members in canonical order, for `JSON.stringify` to write:
 * several times faster than writing it by hand. An object or array already in canonical order,
 * whose members need no change, is returned itself rather than copied (records are mostly built
 * that way, and the copies were most of the cost). An object with an index-like member name
 * cannot be ordered by insertion, so it takes the general path.
 */
function sortedCopy(input: unknown): unknown {
  const value = jsonOf(input);
  if (typeof value !== 'object' || value === null) {
    checkScalar(value);
    return value;
  }
  // `JSON.stringify` would call a `toJSON` the result still has: such a value is always copied.
  const mustCopy = hasToJson(value);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined = mustCopy ? [] : undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const copy = sortedCopy(item);
      if (copy === NEEDS_GENERAL_PATH) return copy;
      if (out === undefined && copy !== item) out = value.slice(0, i);
      out?.push(copy);
    }
    return out ?? value;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  let ordered = !mustCopy;
  for (let i = 1; ordered && i < keys.length; i++) ordered = (keys[i - 1] as string) < (keys[i] as string);
  if (!ordered) sortKeys(keys);
  let out: Record<string, unknown> | undefined = ordered ? undefined : {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (isIndexKey(key)) return NEEDS_GENERAL_PATH;
    const member = record[key];
    // Optional members left undefined are absent in JSON as well (`JSON.stringify` skips them).
    if (member === undefined) continue;
    const copy = sortedCopy(member);
    if (copy === NEEDS_GENERAL_PATH) return copy;
    if (out === undefined && copy !== member) {
      out = {};
      for (let j = 0; j < i; j++) {
        const earlier = keys[j] as string;
        if (record[earlier] !== undefined) out[earlier] = record[earlier];
      }
    }
    if (out !== undefined) out[key] = copy;
  }
  return out ?? value;
}

/**
 * `value` with its members in canonical order, for `JSON.stringify` to write as `canonicalJson`
 * would (`value` itself when nothing needed reordering), or undefined when only `canonicalJson`
 * can write it (index-like member names). Throws on what JSON cannot carry, as `canonicalJson` does.
 */
export function canonicalOrder(value: unknown): unknown {
  const sorted = sortedCopy(value);
  return sorted === NEEDS_GENERAL_PATH ? undefined : sorted;
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

/**
 * A member name of one character written as an escape (`"\""`, `"\n"`, `"\u0041"`): V8's
 * `JSON.parse` (Node.js 24.21) reads every such name as a backslash once it has parsed a name that
 * is a backslash, so a record holding one would be hashed as something other than what it says
 * (a changed name could even pass). Inside a string a quote is always escaped, so `{` or `,`, a
 * quote, one escape, a quote and a colon is such a name and nothing else.
 */
const ESCAPED_ONE_CHARACTER_NAME = /[{,]\s*"\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})"\s*:/;

/** Whether stored JSON text holds a name `JSON.parse` may misread (see above): not verifiable here. */
export const misreadableJson = (text: string): boolean =>
  // Most records hold no backslash at all, and looking for one character is nearly free.
  text.includes('\\') && ESCAPED_ONE_CHARACTER_NAME.test(text);

export const MISREADABLE =
  'holds a member name of one escaped character, which JSON.parse in this Node.js can misread: it is not verified';
