/**
 * RFC 8785 (JSON Canonicalization Scheme) for the values an audit record holds: object members
 * sorted by their UTF-16 code units, no whitespace, strings and numbers written as ECMAScript's
 * `JSON.stringify` writes them (which is what RFC 8785 specifies for both). A value JSON cannot
 * carry (a non-finite number, `undefined`, a function) is refused rather than silently dropped:
 * two records that differ only there would otherwise hash the same. An object with `toJSON` (a
 * `Date`) is written as `JSON.stringify` would write it.
 */
export function canonicalJson(value: unknown): string {
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  )
    value = (value as { toJSON(): unknown }).toJSON();
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON has no ${String(value)}`);
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = record[key];
        // Optional members left undefined are absent in JSON as well.
        if (member === undefined) continue;
        out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJson(member)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonical JSON has no ${typeof value}`);
  }
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
