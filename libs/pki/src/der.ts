import { PkiError } from './errors.ts';
/**
 * A small DER writer and a strict DER reader, for the two places where @peculiar/x509 is too slow
 * or lacks a class: the CA's hot path (`fast-leaf.ts`, `fast-csr.ts`) and the name constraints
 * extension. Only what those need; everything else goes through @peculiar/x509.
 */

// ---- Writing ----------------------------------------------------------------------------------

/** The definite, minimal length octets of X.690 §8.1.3 (DER §10.1). */
export function derLength(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid DER length ${n}`);
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV with a single-octet tag (every tag Warden writes is below 31). */
export const tlv = (tag: number, content: Uint8Array): Buffer =>
  Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);

export const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** `[n]` EXPLICIT, or any constructed context-specific tag. */
export const contextConstructed = (n: number): number => 0xa0 | n;
/** `[n]` IMPLICIT on a primitive type (e.g. GeneralName's uniformResourceIdentifier is `[6]`). */
export const contextPrimitive = (n: number): number => 0x80 | n;

export const derSequence = (...items: Uint8Array[]): Buffer => tlv(Tag.sequence, Buffer.concat(items));

/** BOOLEAN TRUE (DER: FALSE is the DEFAULT of every BOOLEAN Warden writes, so it is omitted). */
export const DER_TRUE = Buffer.from([Tag.boolean, 0x01, 0xff]);
export const DER_NULL = Buffer.from([Tag.null, 0x00]);

/**
 * An INTEGER from unsigned big-endian magnitude bytes: redundant leading zero octets dropped, and
 * one 0x00 put back when the high bit is set so that the value stays positive (X.690 §8.3.2).
 */
export function derUnsignedInteger(magnitude: Uint8Array): Buffer {
  let first = 0;
  while (first < magnitude.length - 1 && magnitude[first] === 0) first++;
  const trimmed = magnitude.subarray(first);
  if (trimmed.length === 0) return tlv(Tag.integer, Buffer.from([0]));
  const content = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return tlv(Tag.integer, content);
}

/** The content octets of an OBJECT IDENTIFIER in dotted form (X.690 §8.19). */
export function oidContent(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => {
    if (!/^(0|[1-9][0-9]*)$/.test(arc)) throw new RangeError(`invalid OID ${dotted}`);
    return BigInt(arc);
  });
  const [a, b, ...rest] = arcs;
  if (a === undefined || b === undefined || a > 2n || (a < 2n && b > 39n))
    throw new RangeError(`invalid OID ${dotted}`);
  const out: number[] = [];
  for (const arc of [a * 40n + b, ...rest]) {
    const group: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) group.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...group);
  }
  return Buffer.from(out);
}

export const derOid = (dotted: string): Buffer => tlv(Tag.oid, oidContent(dotted));

/** BIT STRING of whole octets (no unused bits): signatures and key bits. */
export const derBitString = (bytes: Uint8Array): Buffer =>
  tlv(Tag.bitString, Buffer.concat([Buffer.from([0]), bytes]));

const two = (n: number): string => String(n).padStart(2, '0');

/**
 * A certificate validity time (RFC 5280 §4.1.2.5): UTCTime `YYMMDDHHMMSSZ` for 1950 through 2049,
 * GeneralizedTime `YYYYMMDDHHMMSSZ` from 2050, both in UTC with seconds and no fraction.
 * Milliseconds are dropped (the time is truncated to the second, as @peculiar/x509 does).
 */
export function derTime(date: Date): Buffer {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('invalid date');
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new RangeError(`year ${year} cannot be a certificate time`);
  const rest =
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z';
  return year < 2050
    ? tlv(Tag.utcTime, Buffer.from(two(year % 100) + rest, 'ascii'))
    : tlv(Tag.generalizedTime, Buffer.from(String(year) + rest, 'ascii'));
}

/**
 * NameConstraints (RFC 5280 §4.2.1.10) permitting only URIs whose host is exactly one of
 * `hosts`: `SEQUENCE { [0] SEQUENCE OF SEQUENCE { [6] IA5String } }`.
 */
export function permittedUriHosts(hosts: readonly string[]): Buffer {
  const subtrees = hosts.map((host) => tlv(0x30, tlv(0x86, Buffer.from(host, 'ascii'))));
  return tlv(0x30, tlv(0xa0, Buffer.concat(subtrees)));
}

// ---- Reading ----------------------------------------------------------------------------------

/** Input that is not DER of the expected shape. Callers on the hot path treat it as "not mine". */
export class DerReadError extends PkiError {
  constructor(message: string) {
    super('malformed_der', message);
  }
}

/** One TLV inside a buffer: `start` is its tag octet, `[contentStart, end)` its content. */
export type Tlv = {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
};

/** Inputs here are at most a few KiB; four length octets are far more than enough. */
const MAX_LENGTH_OCTETS = 4;

/**
 * Reads the TLV at `offset`, which must end at or before `limit`. Strict DER only: single-octet
 * tags, definite lengths in the minimal number of octets. Indefinite lengths (BER), long-form
 * lengths that fit the short form or carry leading zeros, high tag numbers and anything that
 * runs past `limit` are refused: a reader that accepts several encodings of one value invites
 * two parsers to disagree about what was signed.
 */
export function readTlv(buf: Uint8Array, offset: number, limit: number = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerReadError('truncated header');
  const tag = buf[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw new DerReadError('high tag numbers are not supported');
  const first = buf[offset + 1] ?? 0;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new DerReadError('indefinite length');
    if (count > MAX_LENGTH_OCTETS) throw new DerReadError('length too large');
    if (offset + 2 + count > limit) throw new DerReadError('truncated length');
    if (buf[offset + 2] === 0) throw new DerReadError('length with leading zero octets');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[offset + 2 + i] ?? 0);
    if (length < 0x80) throw new DerReadError('long-form length for a short length');
    contentStart = offset + 2 + count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerReadError('content runs past its container');
  return { tag, start: offset, contentStart, end };
}

/** The TLV at `offset` with the expected tag. */
export function expectTlv(buf: Uint8Array, offset: number, limit: number, tag: number): Tlv {
  const t = readTlv(buf, offset, limit);
  if (t.tag !== tag)
    throw new DerReadError(`expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

/** The TLVs that exactly fill `parent`'s content (nothing left over, nothing overlapping). */
export function childrenOf(buf: Uint8Array, parent: Tlv, max = 64): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end;) {
    if (out.length === max) throw new DerReadError('too many elements');
    const child = readTlv(buf, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** The whole input as one TLV of `tag`, with no trailing bytes. */
export function readSingle(buf: Uint8Array, tag: number): Tlv {
  const t = expectTlv(buf, 0, buf.length, tag);
  if (t.end !== buf.length) throw new DerReadError('trailing bytes');
  return t;
}

export const contentOf = (buf: Uint8Array, t: Tlv): Buffer =>
  Buffer.from(buf.buffer, buf.byteOffset + t.contentStart, t.end - t.contentStart);
export const bytesOf = (buf: Uint8Array, t: Tlv): Buffer =>
  Buffer.from(buf.buffer, buf.byteOffset + t.start, t.end - t.start);

/** Is `t` an OBJECT IDENTIFIER whose content equals `expected` (from `oidContent`)? */
export const isOid = (buf: Uint8Array, t: Tlv, expected: Buffer): boolean =>
  t.tag === Tag.oid && contentOf(buf, t).equals(expected);

/**
 * A well-formed OBJECT IDENTIFIER content: non-empty, each arc minimal (no 0x80 lead octet), the
 * last octet ending an arc.
 */
export function isWellFormedOid(content: Uint8Array): boolean {
  if (content.length === 0 || content.length > 64) return false;
  let startOfArc = true;
  for (const byte of content) {
    if (startOfArc && byte === 0x80) return false;
    startOfArc = (byte & 0x80) === 0;
  }
  return startOfArc;
}

/** A positive INTEGER in minimal form (no redundant leading 0x00 or 0xff octet). */
export function isMinimalPositiveInteger(content: Uint8Array): boolean {
  const [a, b] = content;
  if (a === undefined) return false;
  if (a & 0x80) return false;
  if (a === 0 && (b === undefined || (b & 0x80) === 0)) return false;
  return true;
}
