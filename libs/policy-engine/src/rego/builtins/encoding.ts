/** `urlquery.*` (Go's `net/url`), `units.*`, `crypto.*` digests and HMACs, `net.cidr_contains_matches`. */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { fail, str, typeName } from './errors.ts';

type Fn = (...args: unknown[]) => unknown;

/** Go's `url.QueryEscape`. */
export function queryEscape(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Go's `url.QueryUnescape`. */
export function queryUnescape(s: string): string {
  const bytes: number[] = [];
  const src = Buffer.from(s, 'utf8');
  for (let i = 0; i < src.length; i++) {
    const b = src[i] ?? 0;
    if (b === 0x25) {
      const hex = src.subarray(i + 1, i + 3).toString('latin1');
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        const bad = src.subarray(i, i + 3).toString('utf8');
        fail(`invalid URL escape ${JSON.stringify(bad)}`);
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(b === 0x2b ? 0x20 : b);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Go's `url.ParseQuery`: the first error wins, but every valid pair is kept (OPA fails on the error). */
function parseQuery(query: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const part of query.split('&')) {
    if (part === '') continue;
    if (part.includes(';')) fail('invalid semicolon separator in query');
    const eq = part.indexOf('=');
    const key = queryUnescape(eq === -1 ? part : part.slice(0, eq));
    const value = queryUnescape(eq === -1 ? '' : part.slice(eq + 1));
    (out[key] ??= []).push(value);
  }
  return out;
}

function encodeObject(obj: unknown): string {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    fail(`operand 1 must be object but got ${typeName(obj)}`);
  const pairs: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const value = (obj as Record<string, unknown>)[key];
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v !== 'string')
        fail('urlquery.encode_object: the values of the object must be strings or arrays/sets of strings');
      pairs.push(`${queryEscape(key)}=${queryEscape(v)}`);
    }
  }
  return pairs.join('&');
}

/** Splits `"1.5Gi"` into the number (sign, fraction and exponent allowed) and its unit. */
function splitAmount(raw: string, name: string): [string, string] {
  const s = raw.replace(/^"+|"+$/g, '');
  if (/\s/.test(s)) fail(`${name}: spaces not allowed in resource strings`);
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(.*)$/.exec(s);
  if (!m) fail(`${name}: no ${name === 'units.parse_bytes' ? 'byte ' : ''}amount provided`);
  return [m[1] ?? '', m[2] ?? ''];
}

/** `amount * base^power` as an exact rational: its truncated integer and its double. */
function scaled(amount: string, base: bigint, power: bigint): { int: bigint; value: number } {
  const m = /^([+-]?)(\d*)\.?(\d*)(?:[eE]([+-]?\d+))?$/.exec(amount);
  const sign = m?.[1] === '-' ? -1n : 1n;
  const w = m?.[2] ?? '';
  const f = m?.[3] ?? '';
  const exp = BigInt(Number(m?.[4] ?? '0'));
  let numerator = sign * BigInt(w + f || '0') * base ** power;
  let denominator = 10n ** BigInt(f.length);
  if (exp >= 0n) numerator *= 10n ** exp;
  else denominator *= 10n ** -exp;
  return { int: numerator / denominator, value: Number(numerator) / Number(denominator) };
}

const bytePrefixes: Record<string, bigint> = { k: 1n, m: 2n, g: 3n, t: 4n, p: 5n, e: 6n };

function parseBytes(raw: string): bigint {
  const [amount, unitRaw] = splitAmount(raw, 'units.parse_bytes');
  const unit = unitRaw.toLowerCase();
  if (unit === '') return scaled(amount, 1n, 0n).int;
  const m = /^([kmgtpe])(i)?(b)?$/.exec(unit);
  if (!m) fail(`units.parse_bytes: byte unit ${unit} not recognized`);
  return scaled(amount, m[2] ? 1024n : 1000n, bytePrefixes[m[1] ?? ''] ?? 0n).int;
}

function parseUnits(raw: string): number | bigint {
  const [amount, unit] = splitAmount(raw, 'units.parse');
  if (unit === '') return exact(scaled(amount, 1n, 0n));
  if (unit === 'm') return scaled(amount, 1n, 0n).value / 1000;
  const binary = /^([kmgtpe])i$/i.exec(unit);
  if (binary) return exact(scaled(amount, 1024n, bytePrefixes[(binary[1] ?? '').toLowerCase()] ?? 0n));
  if (!/^[kmgtpe]$/i.test(unit)) fail(`units.parse: unit ${unit} not recognized`);
  return exact(scaled(amount, 1000n, bytePrefixes[unit.toLowerCase()] ?? 0n));
}

function exact(v: { int: bigint; value: number }): number | bigint {
  return Number.isInteger(v.value) ? v.int : v.value;
}

// --- addresses -------------------------------------------------------------------------------

type Net = { v6: boolean; addr: bigint; bits: number };

function parseIPv4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255 || (p.length > 1 && p.startsWith('0'))) return undefined;
    v = (v << 8n) | BigInt(p);
  }
  return v;
}

function parseIPv6(s: string): bigint | undefined {
  if (s.includes('%')) return undefined;
  let tail: bigint | undefined;
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tail = parseIPv4(s.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    text = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const group = (h: string) => (h === '' ? [] : h.split(':'));
  const head = group(halves[0] ?? '');
  const rest = halves.length === 2 ? group(halves[1] ?? '') : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail !== undefined) v = (v & ~0xffffffffn) | tail;
  return v;
}

/** An address as Go's `net.ParseIP` reads it, IPv4-mapped IPv6 being the IPv4 address. */
function parseIP(s: string): Net | undefined {
  const v4 = parseIPv4(s);
  if (v4 !== undefined) return { v6: false, addr: v4, bits: 32 };
  const v6 = parseIPv6(s);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { v6: false, addr: v6 & 0xffffffffn, bits: 32 };
  return { v6: true, addr: v6, bits: 128 };
}

function parseCIDR(s: string): Net | undefined {
  const slash = s.indexOf('/');
  if (slash === -1) return undefined;
  const ipText = s.slice(0, slash);
  const lenText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return undefined;
  const v4 = parseIPv4(ipText);
  const size = v4 !== undefined ? 32 : 128;
  const bits = Number(lenText);
  if (bits > size) return undefined;
  const addr = v4 ?? parseIPv6(ipText);
  if (addr === undefined) return undefined;
  if (v4 === undefined && addr >> 32n === 0xffffn && bits >= 96)
    return { v6: false, addr: mask(addr & 0xffffffffn, 32, bits - 96), bits: bits - 96 };
  return { v6: v4 === undefined, addr: mask(addr, size, bits), bits };
}

function mask(addr: bigint, size: number, bits: number): bigint {
  const host = BigInt(size - bits);
  return (addr >> host) << host;
}

function contains(cidr: Net, other: Net): boolean {
  // Go's IPNet.Contains: an IPv4 (or IPv4-mapped) address is never in an IPv6 network, nor the reverse.
  if (cidr.v6 !== other.v6) return false;
  const size = cidr.v6 ? 128 : 32;
  return other.bits >= cidr.bits && mask(other.addr, size, cidr.bits) === cidr.addr;
}

/** The (key, cidr-or-ip) pairs of an operand: a string keys itself, arrays key by index, objects by key. */
function entries(value: unknown, pos: number): [unknown, string][] {
  const element = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
    fail(
      `net.cidr_contains_matches: operand ${pos} must be string, array, set or object of strings or arrays with a string first`,
    );
  };
  if (typeof value === 'string') return [[value, value]];
  if (Array.isArray(value)) return value.map((v, i) => [i, element(v)]);
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).map(([k, v]) => [k, element(v)]);
  fail(
    `net.cidr_contains_matches: operand ${pos} must be one of {string, array, set, object} but got ${typeName(value)}`,
  );
}

/**
 * `net.cidr_contains_matches`: every `[key1, key2]` where the CIDR at `key1` contains the CIDR or
 * address at `key2`. OPA returns a set; a host builtin can only hand opa-wasm JSON, so this is an
 * array of the same pairs, without duplicates: iteration, `count` and `x in` agree with OPA,
 * lookup by the pair itself (`matches[[0, 1]]`) and equality with a set literal do not.
 * Likewise a set argument reaches the host as an array (opa-wasm dumps sets as JSON arrays), so
 * its elements are keyed by index where OPA keys them by the element itself.
 */
function cidrContainsMatches(a: unknown, b: unknown): unknown[] {
  const cidrs = entries(a, 1);
  const others = entries(b, 2);
  const out: unknown[] = [];
  const seen = new Set<string>();
  for (const [k1, c] of cidrs) {
    const cidr = parseCIDR(c);
    if (!cidr) fail(`net.cidr_contains_matches: invalid CIDR address: ${c}`);
    for (const [k2, o] of others) {
      const other = o.includes('/') ? parseCIDR(o) : parseIP(o);
      if (!other) fail(`net.cidr_contains_matches: invalid CIDR/IP: ${o}`);
      if (!contains(cidr, other)) continue;
      const pair = [k1, k2];
      const id = JSON.stringify(pair);
      if (!seen.has(id)) {
        seen.add(id);
        out.push(pair);
      }
    }
  }
  // OPA returns a set, which it keeps (and serialises) in value order; the Wasm module only ever
  // sees an array, so give it that order.
  return out.sort(compareTerms);
}

/** OPA's order of the values a match can hold: numbers before strings, strings by UTF-8 bytes. */
function compareTerms(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compareTerms(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return Buffer.compare(Buffer.from(String(a), 'utf8'), Buffer.from(String(b), 'utf8'));
}

const hex = (algorithm: string) => (x: unknown) =>
  createHash(algorithm).update(str(x, 1), 'utf8').digest('hex');
const hmac = (algorithm: string) => (x: unknown, key: unknown) =>
  createHmac(algorithm, Buffer.from(str(key, 2), 'utf8'))
    .update(str(x, 1), 'utf8')
    .digest('hex');

export function encodingBuiltins(uuid: (key: string) => string): Record<string, Fn> {
  return {
    'urlquery.encode': (s) => queryEscape(str(s, 1)),
    'urlquery.decode': (s) => queryUnescape(str(s, 1)),
    'urlquery.encode_object': (o) => encodeObject(o),
    'urlquery.decode_object': (s) => parseQuery(str(s, 1)),
    'units.parse_bytes': (s) => parseBytes(str(s, 1)),
    'units.parse': (s) => parseUnits(str(s, 1)),
    'net.cidr_contains_matches': (a, b) => cidrContainsMatches(a, b),
    'crypto.md5': hex('md5'),
    'crypto.sha1': hex('sha1'),
    'crypto.sha256': hex('sha256'),
    'crypto.hmac.md5': hmac('md5'),
    'crypto.hmac.sha1': hmac('sha1'),
    'crypto.hmac.sha256': hmac('sha256'),
    'crypto.hmac.sha512': hmac('sha512'),
    'crypto.hmac.equal': (a, b) => {
      const x = Buffer.from(str(a, 1), 'utf8');
      const y = Buffer.from(str(b, 2), 'utf8');
      return x.length === y.length && timingSafeEqual(x, y);
    },
    'uuid.rfc4122': (k) => uuid(str(k, 1)),
  };
}
