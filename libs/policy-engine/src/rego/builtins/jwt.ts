/**
 * `io.jwt.*` as OPA's `topdown/tokens.go`: decoding JWS compact tokens, verifying HS/RS/PS/ES
 * signatures with keys given as a PEM certificate, a PEM public key, a JWK or a JWKS, and
 * `io.jwt.decode_verify`'s constraints (`cert`/`secret`, `alg`, `iss`, `aud`, `time`).
 *
 * The crypto is Node's (`node:crypto`, OpenSSL): opa-wasm calls host builtins synchronously,
 * and `jose`'s verification API is asynchronous only (WebCrypto), so it cannot serve here.
 */
import {
  X509Certificate,
  createHmac,
  createPublicKey,
  timingSafeEqual,
  verify,
  constants,
} from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { fail, str } from './errors.ts';

type Fn = (...args: unknown[]) => unknown;
type Token = { header: string; payload: string; signature: string };

function decodeJWT(value: unknown): Token {
  const s = str(value, 1);
  if (!s.includes('.')) fail('encoded JWT had no period separators');
  const parts = s.split('.');
  if (parts.length !== 3) fail(`encoded JWT must have 3 sections, found ${parts.length}`);
  const [header = '', payload = '', signature = ''] = parts;
  return { header, payload, signature };
}

/**
 * A JWT section as OPA decodes it (its `base64url.decode`): without padding, the padding is
 * added from the length (RFC 7515 Appendix C); with any, the text must be correctly padded
 * base64url. Errors name the section and, as Go's decoder, the offending input byte.
 */
function b64url(s: string, what: string): Buffer {
  let text = s;
  if (!text.endsWith('=')) {
    const rest = text.length % 4;
    if (rest === 1) fail(`JWT ${what} had invalid encoding: illegal base64url string: ${s}`);
    if (rest > 1) text += '='.repeat(4 - rest);
  }
  const bad = text.search(/[^A-Za-z0-9_=-]/);
  if (bad !== -1) fail(`JWT ${what} had invalid encoding: illegal base64 data at input byte ${bad}`);
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9_-]*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/.test(text))
    fail(`JWT ${what} had invalid encoding: illegal base64 data at input byte ${text.length - 1}`);
  return Buffer.from(text, 'base64url');
}

function jsonObject(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    fail(`${what}invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    fail(`${what}decoded JSON type was not an Object`);
  return v as Record<string, unknown>;
}

function decodeHeader(token: Token): Record<string, unknown> {
  const header = jsonObject(b64url(token.header, 'header').toString('utf8'), 'bad JWT header: ');
  if ('enc' in header) fail('JWT is a JWE object, which is not supported');
  return header;
}

function decode(jwt: unknown): unknown[] {
  const token = decodeJWT(jwt);
  const header = decodeHeader(token);
  let payloadText = b64url(token.payload, 'payload').toString('utf8');
  if (header.cty === 'JWT') {
    payloadText = payloadText.replace(/^["']+|["']+$/g, '');
    return decode(payloadText);
  }
  const payload = jsonObject(payloadText, '');
  const signature = b64url(token.signature, 'signature').toString('hex');
  return [header, payload, signature];
}

const ALGS = ['HS', 'RS', 'PS', 'ES'].flatMap((f) => ['256', '384', '512'].map((n) => f + n));

/** A verification key; `alg` and `kid` are a JWK's, empty for PEM material. */
type Key = { key: KeyObject; kid: string; alg: string };

/** The algorithms OPA knows; a JWK naming another is skipped, as OPA does. */
const KNOWN_ALGS = new Set([...ALGS, 'EdDSA']);

/**
 * The first PEM block as Go's `pem.Decode` finds it: text before it is skipped, and the
 * remainder after its END line (that line's own newline included) must be empty.
 */
function firstPemBlock(text: string): { type: string; block: string; rest: string } | undefined {
  const m = /-----BEGIN ([^\n-]*)-----[^\n]*\n[\s\S]*?\n-----END \1-----[^\n]*(?:\n|$)/.exec(text);
  if (!m) return undefined;
  return { type: m[1] ?? '', block: m[0], rest: text.slice(m.index + m[0].length) };
}

/** Keys from a PEM certificate, a PEM public key, a JWK or a JWKS, as OPA parses them. */
function parseKeys(material: string): Key[] {
  const pem = firstPemBlock(material);
  if (pem) {
    if (pem.rest.length > 0) fail('extra data after a PEM certificate block');
    try {
      if (pem.type === 'CERTIFICATE')
        return [{ key: new X509Certificate(pem.block).publicKey, kid: '', alg: '' }];
      if (pem.type === 'PUBLIC KEY') return [{ key: createPublicKey(pem.block), kid: '', alg: '' }];
    } catch (err) {
      fail(`failed to parse a PEM key: ${err instanceof Error ? err.message : String(err)}`);
    }
    fail('failed to extract a Key from the PEM certificate');
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(material);
  } catch {
    fail('failed to parse a JWK key (set)');
  }
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) fail('failed to parse a JWK key (set)');
  const set = (jwk as { keys?: unknown }).keys;
  const list: unknown[] = Array.isArray(set) ? set : [jwk];
  const keys: Key[] = [];
  for (const k of list) {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: k as JsonWebKey, format: 'jwk' });
    } catch {
      fail('failed to parse a JWK key (set)');
    }
    const { kid, alg } = k as { kid?: unknown; alg?: unknown };
    const algorithm = typeof alg === 'string' ? alg : '';
    if (algorithm !== '' && !KNOWN_ALGS.has(algorithm)) continue;
    keys.push({ key, kid: typeof kid === 'string' ? kid : '', alg: algorithm });
  }
  return keys;
}

/** The JOSE header fields OPA reads; a known field of the wrong type is an error, as in OPA. */
type Header = { alg: string; kid: string; cty: string; crit: Set<string>; unknown: string[] };

function parseHeader(fields: Record<string, unknown>): Header {
  const header: Header = { alg: '', kid: '', cty: '', crit: new Set(), unknown: [] };
  for (const [name, value] of Object.entries(fields)) {
    switch (name) {
      case 'alg':
      case 'kid':
      case 'cty':
      case 'typ':
        if (typeof value !== 'string') fail(`${name}: must be a string`);
        if (name !== 'typ') header[name] = value;
        break;
      case 'crit':
        if (!Array.isArray(value)) fail('crit: must be a list');
        for (const v of value) if (typeof v === 'string') header.crit.add(v);
        if (header.crit.size === 0) fail('crit: must be a nonempty list');
        break;
      default:
        header.unknown.push(name);
    }
  }
  return header;
}

/**
 * OPA's key choice: a key whose `kid` matches the header's is the only one tried; otherwise
 * every key is, except a JWK whose `alg` differs from the header's.
 */
function verifiesWithSomeKey(keys: Key[], header: Header, check: (key: KeyObject) => boolean): boolean {
  if (header.kid !== '') {
    const byKid = keys.find((k) => k.kid === header.kid);
    if (byKid) return check(byKid.key);
  }
  return keys.some((k) => (k.alg === '' || k.alg === header.alg) && check(k.key));
}

const hashOf: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

/** Whether `signature` over `input` verifies under `alg` with `key`; a key of the wrong type does not. */
function verifyWith(alg: string, key: KeyObject, input: Buffer, signature: Buffer): boolean {
  const hash = hashOf[alg.slice(2)];
  if (!hash) return false;
  const type = key.asymmetricKeyType;
  try {
    switch (alg.slice(0, 2)) {
      case 'RS':
        return type === 'rsa' && verify(hash, input, key, signature);
      case 'PS':
        return (
          (type === 'rsa' || type === 'rsa-pss') &&
          verify(
            hash,
            input,
            { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
            signature,
          )
        );
      case 'ES': {
        const curve = { '256': 'prime256v1', '384': 'secp384r1', '512': 'secp521r1' }[alg.slice(2)];
        return (
          type === 'ec' &&
          key.asymmetricKeyDetails?.namedCurve === curve &&
          verify(hash, input, { key, dsaEncoding: 'ieee-p1363' }, signature)
        );
      }
      default:
        return false;
    }
  } catch {
    return false;
  }
}

function hmacVerify(alg: string, secret: string, input: Buffer, signature: Buffer): boolean {
  const hash = hashOf[alg.slice(2)];
  if (!hash) return false;
  const mac = createHmac(hash, Buffer.from(secret, 'utf8')).update(input).digest();
  return mac.length === signature.length && timingSafeEqual(mac, signature);
}

function signingInput(token: Token): Buffer {
  return Buffer.from(`${token.header}.${token.payload}`, 'utf8');
}

function verifyAsymmetric(alg: string) {
  return (jwt: unknown, material: unknown): boolean => {
    const token = decodeJWT(jwt);
    const keys = parseKeys(str(material, 2));
    const signature = b64url(token.signature, 'signature');
    // OPA reads the header of a token it verifies with a public key (not with a secret): one
    // that is not base64url JSON, or has a field of the wrong type, is an error.
    const header = parseHeader(decodeHeader(token));
    const input = signingInput(token);
    return verifiesWithSomeKey(keys, header, (key) => verifyWith(alg, key, input, signature));
  };
}

function verifyHmac(alg: string) {
  return (jwt: unknown, secret: unknown): boolean => {
    const token = decodeJWT(jwt);
    const s = str(secret, 2);
    return hmacVerify(alg, s, signingInput(token), b64url(token.signature, 'signature'));
  };
}

type Constraints = { keys?: Key[]; secret?: string; alg?: string; iss?: string; aud?: string; time: number };

function parseConstraints(value: unknown, now: bigint): Constraints {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('operand 2 must be object');
  const c: Constraints = { time: Number(now) };
  for (const [name, v] of Object.entries(value)) {
    switch (name) {
      case 'cert':
        c.keys = parseKeys(str(v, 2));
        break;
      case 'secret':
        c.secret = str(v, 2);
        break;
      case 'alg':
        c.alg = str(v, 2);
        break;
      case 'iss':
        c.iss = str(v, 2);
        break;
      case 'aud':
        c.aud = str(v, 2);
        break;
      case 'time':
        if (typeof v !== 'number') fail('token time constraint: must be a number');
        if (v < 0) fail('token time constraint: must not be negative');
        c.time = v;
        break;
      default:
        fail(`unknown token validation constraint: ${name}`);
    }
  }
  if ((c.keys === undefined) === (c.secret === undefined))
    fail('exactly one of cert and secret must be given');
  return c;
}

function decodeVerify(now: bigint, jwt: unknown, constraintsValue: unknown): unknown[] {
  const unverified = [false, {}, {}];
  const c = parseConstraints(constraintsValue, now);
  let text: unknown = jwt;
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  for (;;) {
    const token = decodeJWT(text);
    header = decodeHeader(token);
    const fields = parseHeader(header);
    // RFC 7515: alg must be present, and a critical parameter OPA does not know invalidates.
    if (fields.alg === '' || fields.unknown.some((name) => fields.crit.has(name))) return unverified;
    const alg = fields.alg;
    if (c.alg !== undefined && c.alg !== alg) return unverified;
    const signature = b64url(token.signature, 'signature');
    const input = signingInput(token);
    let ok: boolean;
    if (c.secret !== undefined) ok = alg.startsWith('HS') && hmacVerify(alg, c.secret, input, signature);
    else
      ok =
        !alg.startsWith('HS') &&
        verifiesWithSomeKey(c.keys ?? [], fields, (key) => verifyWith(alg, key, input, signature));
    if (!ok) return unverified;
    const payloadText = b64url(token.payload, 'payload').toString('utf8');
    // Unlike io.jwt.decode, decode_verify neither trims quotes nor minds the case of "JWT".
    if (fields.cty.toUpperCase() === 'JWT') {
      text = payloadText;
      continue;
    }
    payload = jsonObject(payloadText, '');
    break;
  }
  if (c.iss !== undefined && payload.iss !== c.iss) return unverified;
  const aud = payload.aud;
  if (aud === undefined) {
    if (c.aud !== undefined) return unverified;
  } else {
    if (c.aud === undefined) return unverified;
    const auds = Array.isArray(aud) ? aud : [aud];
    if (!auds.includes(c.aud)) return unverified;
  }
  if ('exp' in payload) {
    if (typeof payload.exp !== 'number') fail('exp value must be a number');
    if (c.time >= payload.exp * 1e9) return unverified;
  }
  if ('nbf' in payload) {
    if (typeof payload.nbf !== 'number') fail('nbf value must be a number');
    if (c.time < payload.nbf * 1e9) return unverified;
  }
  return [true, header, payload];
}

export function jwtBuiltins(now: () => bigint): Record<string, Fn> {
  const out: Record<string, Fn> = {
    'io.jwt.decode': (jwt) => decode(jwt),
    'io.jwt.decode_verify': (jwt, constraints) => decodeVerify(now(), jwt, constraints),
  };
  for (const alg of ALGS) {
    const name = `io.jwt.verify_${alg.toLowerCase()}`;
    const impl = alg.startsWith('HS') ? verifyHmac(alg) : verifyAsymmetric(alg);
    out[name] = (jwt, key) => impl(jwt, key);
  }
  return out;
}
