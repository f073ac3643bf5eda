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

/** OPA's `base64url.decode`: padding optional, nothing outside the alphabet. */
function b64url(s: string, what: string): Buffer {
  const bare = s.replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(bare) || bare.length % 4 === 1)
    fail(`JWT ${what} had invalid encoding: illegal base64 data`);
  return Buffer.from(bare, 'base64url');
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

type Key = { key: KeyObject; kid?: string };

/** Keys from a PEM certificate, PEM public key(s), a JWK or a JWKS; throws when there are none. */
function parseKeys(material: string): Key[] {
  const text = material.trim();
  if (text.startsWith('{')) {
    let jwk: unknown;
    try {
      jwk = JSON.parse(text);
    } catch {
      fail('failed to parse a JWK key (set)');
    }
    const set = (jwk as { keys?: unknown }).keys;
    const list = Array.isArray(set) ? set : [jwk];
    const keys: Key[] = [];
    for (const k of list) {
      try {
        const key = createPublicKey({ key: k as JsonWebKey, format: 'jwk' });
        const kid = (k as { kid?: unknown }).kid;
        keys.push(typeof kid === 'string' ? { key, kid } : { key });
      } catch {
        fail('failed to parse a JWK key (set)');
      }
    }
    if (keys.length === 0) fail('failed to parse a JWK key (set)');
    return keys;
  }
  const blocks = text.match(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g);
  if (!blocks) fail('failed to find a PEM block containing a certificate or public key');
  return blocks.map((block) => {
    try {
      if (block.startsWith('-----BEGIN CERTIFICATE-----'))
        return { key: new X509Certificate(block).publicKey };
      return { key: createPublicKey(block) };
    } catch (err) {
      fail(`failed to parse a PEM key: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
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
    const input = signingInput(token);
    return keys.some(({ key }) => verifyWith(alg, key, input, signature));
  };
}

function verifyHmac(alg: string) {
  return (jwt: unknown, secret: unknown): boolean => {
    const token = decodeJWT(jwt);
    const s = str(secret, 2);
    return hmacVerify(alg, s, signingInput(token), b64url(token.signature, 'signature'));
  };
}

const ALGS = ['HS', 'RS', 'PS', 'ES'].flatMap((f) => ['256', '384', '512'].map((n) => f + n));

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
    const alg = header.alg;
    if (typeof alg !== 'string') return unverified;
    if (c.alg !== undefined && c.alg !== alg) return unverified;
    if (!ALGS.includes(alg)) return unverified;
    const signature = b64url(token.signature, 'signature');
    const input = signingInput(token);
    let ok: boolean;
    if (c.secret !== undefined) ok = alg.startsWith('HS') && hmacVerify(alg, c.secret, input, signature);
    else {
      const kid = header.kid;
      const keys = (c.keys ?? []).filter(
        (k) => typeof kid !== 'string' || k.kid === undefined || k.kid === kid,
      );
      ok = !alg.startsWith('HS') && keys.some(({ key }) => verifyWith(alg, key, input, signature));
    }
    if (!ok) return unverified;
    const payloadText = b64url(token.payload, 'payload').toString('utf8');
    if (header.cty === 'JWT') {
      text = payloadText.replace(/^["']+|["']+$/g, '');
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
