/**
 * The parts of Go's `net/url` that opa-envoy-plugin applies to the request path, reproduced byte
 * for byte so `input.parsed_path` and `input.parsed_query` are the plugin's values.
 *
 * opa-envoy-plugin's `getParsedPathAndQuery` (envoyauth/request.go, since v1.13.2-envoy-2; it no
 * longer calls `url.Parse`, which read `//admin/x` as host `admin`) cuts the path at the first `?`,
 * `url.PathUnescape`s the part before it and splits it on `/` after trimming leading slashes, and
 * `url.ParseQuery`s the part after it. Either failing fails the whole check request (the plugin
 * answers 400 / PERMISSION_DENIED), so here they throw `GoUrlError`.
 *
 * Go strings are bytes: `%ff` decodes to the byte 0xff, which is not UTF-8. Such bytes become
 * U+FFFD one per byte, as Go's `encoding/json` (and so `opa eval` reading the document) renders
 * them.
 */

export class GoUrlError extends Error {}

/** Go's limit on the number of query pairs (`urlmaxqueryparams`, default 10000 since Go 1.24). */
const maxQueryParams = 10000;

const hexValue = (c: number): number => {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
};

/**
 * Decodes bytes as Go's `utf8.DecodeRune` walks them: every byte that does not start a valid
 * sequence (overlong forms and surrogates included) is one U+FFFD.
 */
export function goBytesToString(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  const n = bytes.length;
  const cont = (k: number): boolean => k < n && ((bytes[k] ?? 0) & 0xc0) === 0x80;
  while (i < n) {
    const b0 = bytes[i] ?? 0;
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      i += 1;
      continue;
    }
    let cp = -1;
    let width = 1;
    const b1 = bytes[i + 1] ?? 0;
    if (b0 >= 0xc2 && b0 <= 0xdf && cont(i + 1)) {
      cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
      width = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef && cont(i + 1) && cont(i + 2)) {
      const c = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | ((bytes[i + 2] ?? 0) & 0x3f);
      if (c >= 0x800 && !(c >= 0xd800 && c <= 0xdfff)) {
        cp = c;
        width = 3;
      }
    } else if (b0 >= 0xf0 && b0 <= 0xf4 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      const c =
        ((b0 & 0x07) << 18) |
        ((b1 & 0x3f) << 12) |
        (((bytes[i + 2] ?? 0) & 0x3f) << 6) |
        ((bytes[i + 3] ?? 0) & 0x3f);
      if (c >= 0x10000 && c <= 0x10ffff) {
        cp = c;
        width = 4;
      }
    }
    out += cp === -1 ? '\ufffd' : String.fromCodePoint(cp);
    i += width;
  }
  return out;
}

/** Go's `url.unescape` for path segments (`plus` false) and query components (`plus` true). */
function unescape(s: string, plus: boolean): string {
  if (!s.includes('%') && !(plus && s.includes('+'))) return s;
  const input = Buffer.from(s, 'utf8');
  const bytes = new Uint8Array(input.length);
  let n = 0;
  for (let i = 0; i < input.length;) {
    const c = input[i] ?? 0;
    if (c === 0x25) {
      const h = hexValue(input[i + 1] ?? -1);
      const l = hexValue(input[i + 2] ?? -1);
      if (i + 2 >= input.length || h < 0 || l < 0) {
        const bad = input.subarray(i, Math.min(i + 3, input.length));
        throw new GoUrlError(`invalid URL escape ${JSON.stringify(goBytesToString(bad))}`);
      }
      bytes[n++] = (h << 4) | l;
      i += 3;
    } else {
      bytes[n++] = plus && c === 0x2b ? 0x20 : c;
      i += 1;
    }
  }
  return goBytesToString(bytes.subarray(0, n));
}

/** `url.PathUnescape`: `%XX` decoded, `+` kept. */
export const pathUnescape = (s: string): string => unescape(s, false);

/** `url.QueryUnescape`: `%XX` decoded, `+` is a space. */
export const queryUnescape = (s: string): string => unescape(s, true);

/**
 * `url.ParseQuery`: pairs split on `&`; a pair containing `;` or a bad escape is skipped and makes
 * the whole parse an error (Go still returns the other pairs, but the plugin discards them).
 */
export function parseQuery(query: string): Record<string, string[]> {
  if (query.split('&').length > maxQueryParams)
    throw new GoUrlError('number of URL query parameters exceeded limit');
  const out = new Map<string, string[]>();
  let error: string | undefined;
  for (const pair of query.split('&')) {
    if (pair.includes(';')) {
      error = 'invalid semicolon separator in query';
      continue;
    }
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = queryUnescape(eq === -1 ? pair : pair.slice(0, eq));
      value = queryUnescape(eq === -1 ? '' : pair.slice(eq + 1));
    } catch (e) {
      error ??= (e as Error).message;
      continue;
    }
    const values = out.get(key);
    if (values) values.push(value);
    else out.set(key, [value]);
  }
  if (error !== undefined) throw new GoUrlError(error);
  return Object.fromEntries(out);
}

/** opa-envoy-plugin's `getParsedPathAndQuery`. */
export function parsePathAndQuery(path: string): {
  parsedPath: string[];
  parsedQuery: Record<string, string[]>;
} {
  const q = path.indexOf('?');
  const rawPath = q === -1 ? path : path.slice(0, q);
  const rawQuery = q === -1 ? '' : path.slice(q + 1);
  const parsedPath = pathUnescape(rawPath).replace(/^\/+/, '').split('/');
  return { parsedPath, parsedQuery: parseQuery(rawQuery) };
}
