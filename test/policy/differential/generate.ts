/**
 * A seeded generator of varied OPA-Envoy requests for the differential test: paths with escapes,
 * fragments and odd queries; JWTs of every algorithm, valid, forged, expired and malformed;
 * IPv4, IPv6 and IPv4-mapped peers; headers that feed the time, encoding and unit builtins; JSON,
 * form and multipart bodies. The same seed gives the same requests apart from the signatures of
 * the randomised algorithms (ES*, PS*), whose verification outcome is the same.
 */
import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { prng } from '@warden/policy-engine';
import type { AuthzRequest } from '@warden/policy-engine';

type Rand = () => number;
const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)] as T;
const chance = (r: Rand, p: number): boolean => r() < p;

/** The HS secret of OPA's Envoy tutorial policy, which the JWT policy shares. */
export const TUTORIAL_SECRET = 'tutorial-secret';
const HMAC_KEY = 'differential-key';

type Signer = { alg: string; key: KeyObject | string };

export type Keys = {
  signers: Signer[];
  /** The `data` document the policies read. */
  data: Record<string, unknown>;
};

const builtinsTestdata = new URL('../../../libs/policy-engine/testdata/builtins/', import.meta.url);

/** Signing keys for every algorithm family, and the verification keys in each form OPA accepts. */
export function makeKeys(): Keys {
  const rsaPrivate = createPrivateKey(readFileSync(new URL('rsa-key.pem', builtinsTestdata), 'utf8'));
  const rsaCert = readFileSync(new URL('rsa-cert.pem', builtinsTestdata), 'utf8');
  const rsaPublic = createPublicKey(rsaPrivate);
  const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve });
  const ec256 = ec('prime256v1');
  const ec384 = ec('secp384r1');
  const ec521 = ec('secp521r1');
  const jwk = (key: KeyObject) => key.export({ format: 'jwk' });
  const spki = (key: KeyObject) => key.export({ format: 'pem', type: 'spki' }).toString();
  const signers: Signer[] = [
    ...['HS256', 'HS384', 'HS512'].map((alg) => ({ alg, key: TUTORIAL_SECRET })),
    ...['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'].map((alg) => ({ alg, key: rsaPrivate })),
    { alg: 'ES256', key: ec256.privateKey },
    { alg: 'ES384', key: ec384.privateKey },
    { alg: 'ES512', key: ec521.privateKey },
  ];
  return {
    signers,
    data: {
      keys: {
        secret: TUTORIAL_SECRET,
        rsa_cert: rsaCert,
        rsa_public: spki(rsaPublic),
        rsa_jwk: JSON.stringify(jwk(rsaPublic)),
        rsa_jwks: JSON.stringify({ keys: [jwk(rsaPublic)] }),
        // Two keys with key IDs, one naming its algorithm: OPA tries only the key whose kid the
        // token names, and skips a key whose alg differs from the token's.
        ec256_jwks: JSON.stringify({
          keys: [
            { ...jwk(rsaPublic), kid: 'rsa-1' },
            { ...jwk(ec256.publicKey), alg: 'ES256', kid: 'ec-1' },
          ],
        }),
        ec384_public: spki(ec384.publicKey),
        ec521_jwk: JSON.stringify(jwk(ec521.publicKey)),
      },
      networks: {
        corp: '10.0.0.0/8',
        quarantine: '10.66.0.0/16',
        docs: '2001:db8::/32',
        mapped: '::ffff:10.0.0.0/104',
        loopback: '127.0.0.0/8',
        bad: 'fd00:bad::/32',
      },
      blocked_ips: ['10.0.0.99', '2001:db8::dead'],
      hmac_key: HMAC_KEY,
    },
  };
}

const b64 = (v: string | Buffer) => Buffer.from(v).toString('base64url');

function signJwt(signer: Signer, header: object, claims: object): string {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
  const bits = signer.alg.slice(2);
  const digest = `sha${bits}`;
  let signature: Buffer;
  if (signer.alg.startsWith('HS')) signature = createHmac(digest, signer.key).update(input).digest();
  else if (signer.alg.startsWith('PS'))
    signature = sign(digest, Buffer.from(input), {
      key: signer.key as KeyObject,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: Number(bits) / 8,
    });
  else if (signer.alg.startsWith('ES'))
    signature = sign(digest, Buffer.from(input), { key: signer.key as KeyObject, dsaEncoding: 'ieee-p1363' });
  else signature = sign(digest, Buffer.from(input), signer.key as KeyObject);
  return `${input}.${b64(signature)}`;
}

const names = ['alice', 'bob', 'carol', 'Bob', 'dave'];

/** A bearer token for a request made at `seconds`: mostly well formed, often not acceptable. */
function token(r: Rand, keys: Keys, seconds: number): string {
  const kind = r();
  if (kind < 0.05)
    return pick(r, ['not.a.token', 'a.b', '', 'x', 'eyJhbGciOiJub25lIn0.e30.', '..', 'a.b.c.d']);
  // The tutorial's HS256 secret half the time, so its policy has tokens to accept.
  const signer = chance(r, 0.5) ? (keys.signers[0] as Signer) : pick(r, keys.signers);
  const window = pick(r, ['valid', 'valid', 'valid', 'expired', 'future', 'no-times']);
  const claims: Record<string, unknown> = {
    sub: b64(pick(r, names)),
    role: pick(r, ['guest', 'admin', 'admin', 'root']),
    iss: pick(r, ['https://issuer.test', 'https://issuer.test', 'https://evil.test']),
  };
  // io.jwt.decode_verify refuses a token with an audience unless told which to expect: the
  // tutorial policy names none.
  if (chance(r, 0.6)) claims.aud = pick<unknown>(r, ['warden', ['warden', 'other'], 'other', 'warden']);
  // Ten minutes or more from the request's time either way: OPA's io.jwt.decode_verify checks
  // nbf and exp against its own clock, which is the request's time give or take the test's run.
  if (window === 'valid') Object.assign(claims, { nbf: seconds - 600, exp: seconds + 3600 });
  if (window === 'expired') Object.assign(claims, { nbf: seconds - 7200, exp: seconds - 600 });
  if (window === 'future') Object.assign(claims, { nbf: seconds + 900, exp: seconds + 7200 });
  const header: Record<string, unknown> = { alg: signer.alg, typ: 'JWT' };
  if (chance(r, 0.05)) header.alg = pick(r, ['none', 'HS256', 'RS256']);
  if (chance(r, 0.15)) header.kid = pick<unknown>(r, ['ec-1', 'rsa-1', 'rsa-1', 'gone', '', 7]);
  if (chance(r, 0.03))
    Object.assign(header, pick<object>(r, [{ crit: ['b64'], b64: false }, { crit: [] }, { crit: 'exp' }]));
  let jwt = signJwt(signer, header, claims);
  const damage = r();
  if (damage < 0.05) jwt = signJwt({ alg: 'HS256', key: 'guessed' }, { alg: 'HS256', typ: 'JWT' }, claims);
  else if (damage < 0.1) {
    const [h, , s] = jwt.split('.');
    jwt = `${h}.${b64(JSON.stringify({ ...claims, role: 'admin' }))}.${s}`;
  } else if (damage < 0.12) jwt = `${jwt.slice(0, -4)}AAAA`;
  else if (damage < 0.13) jwt = `${jwt}=`;
  return jwt;
}

const segments = [
  'people',
  'people',
  'api',
  'v1',
  'files',
  'secret',
  'a%2Fsecret',
  'se%63ret',
  '..',
  '%2e%2e',
  'admin',
  'caf%C3%A9',
  'x+y',
  'a%20b',
  '',
  'upload',
  '7',
  '%ff',
  'a;b=c',
  '~user',
];
const pairs = [
  'debug=true',
  'debug=false',
  'debug=tru%65',
  'a=1',
  'a=2',
  'b',
  '=x',
  'c=%zz',
  'd=1;e=2',
  'q=a+b',
  '%41=%42',
  'empty=',
  'debug=true&debug=no',
  'x=%ff',
];

function path(r: Rand): string {
  const count = Math.floor(r() * 4);
  const parts = Array.from({ length: count }, () => pick(r, segments));
  let p = pick(r, ['/', '//', '/admin/', '/people', '/people/', '/people/', '/people/']) + parts.join('/');
  if (chance(r, 0.1)) p += '/';
  if (chance(r, 0.5)) {
    const query = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(r, pairs)).join(
      pick(r, ['&', '&', '&&', ';']),
    );
    p += pick(r, ['?', '?', '?', '??']) + query;
  }
  if (chance(r, 0.08)) p += pick(r, ['#frag', '#frag?debug=true', '#', '#a%2Fb']);
  return p;
}

const addresses = [
  '10.0.0.7',
  '10.66.1.2',
  '::ffff:10.66.1.2',
  '::ffff:10.0.0.7',
  '::ffff:192.0.2.9',
  'fd00:bad::1',
  '2001:db8::1',
  '2001:db8::dead',
  '10.0.0.99',
  '192.0.2.44',
  '127.0.0.1',
  '::1',
];
const zones = ['UTC', 'UTC', 'America/New_York', 'Asia/Kolkata', 'Europe/Paris', 'Mars/Olympus', ''];
const durations = ['5m', '1h30m', '-1s', 'bad', '300ms', '1.5h', '2h45m10s', '0', '1d', '10us'];
const sizes = ['10KB', '1MiB', '5G', '12', '1.5K', 'bad', '1e3', '10 mb', '100ki', '2KiB'];
const queries = ['a%20b', 'a+b', '%zz', 'caf%C3%A9', 'plain', '%'];
const days = ['2026-12-03', '2026-13-01', 'not a day', '2031-02-28'];

function principal(r: Rand, role: string): string | undefined {
  if (chance(r, 0.1)) return undefined;
  const ns = pick(r, ['default', 'shop', 'dev', 'kube-system']);
  const id = `cluster.local/ns/${ns}/sa/${role}`;
  return chance(r, 0.5) ? id : `spiffe://${id}`;
}

/** One instant in RFC 3339, in UTC or at an offset, with or without a fraction. */
function rfc3339(seconds: number, r: Rand): string {
  const offset = pick(r, [0, 0, 120, -330]);
  const local = new Date((seconds + offset * 60) * 1000).toISOString().slice(0, 19);
  const fraction = pick(r, ['', '', '.123456789', '.5']);
  const zone =
    offset === 0
      ? 'Z'
      : `${offset > 0 ? '+' : '-'}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}:${String(Math.abs(offset) % 60).padStart(2, '0')}`;
  return `${local}${fraction}${zone}`;
}

function body(r: Rand, headers: Record<string, string>): string | undefined {
  const kind = r();
  if (kind < 0.5) return undefined;
  if (kind < 0.75) {
    headers['content-type'] = pick(r, ['application/json', 'application/json; charset=utf-8']);
    return pick(r, [
      JSON.stringify({ firstname: pick(r, names), role: pick(r, ['guest', 'admin']) }),
      JSON.stringify({ items: [1, 2.5, -3e10, true, null], nested: { a: { b: 'c' } } }),
      '[1, 2, 3]',
      '"text"',
      '{"firstname": "Carol"}',
      '{"bad json"',
    ]);
  }
  if (kind < 0.87) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    return pick(r, ['role=admin', 'role=guest&x=1', 'a=%zz', 'role=admin;x=1', 'name=a+b&name=c']);
  }
  if (kind < 0.95) {
    const boundary = 'xYzZy';
    headers['content-type'] = `multipart/form-data; boundary=${boundary}`;
    return [
      `--${boundary}`,
      'Content-Disposition: form-data; name="role"',
      '',
      pick(r, ['admin', 'guest']),
      `--${boundary}`,
      'Content-Disposition: form-data; name="note"',
      '',
      'hello',
      `--${boundary}--`,
      '',
    ].join('\r\n');
  }
  headers['content-type'] = 'text/plain';
  return 'just text';
}

/**
 * `count` requests from `seed`, made within 20 seconds of `nowMs` (the wall clock: OPA's JWT
 * checks read it). Times far from now come in headers, for the time builtins to read.
 */
export function generateRequests(count: number, seed: number, keys: Keys, nowMs: number): AuthzRequest[] {
  const r = prng(seed);
  const out: AuthzRequest[] = [];
  for (let i = 0; i < count; i++) {
    const at = nowMs + Math.floor((r() - 0.5) * 40_000);
    const seconds = Math.floor(at / 1000);
    const millis = at % 1000;
    const time = chance(r, 0.5) ? new Date(seconds * 1000 + millis) : rfc3339(seconds, r);
    const headers: Record<string, string> = {};
    if (chance(r, 0.7))
      headers.authorization = `${pick(r, ['Bearer', 'bearer', 'Basic'])} ${token(r, keys, seconds)}`;
    if (chance(r, 0.5)) headers['x-timezone'] = pick(r, zones);
    if (chance(r, 0.5)) headers['x-ttl'] = pick(r, durations);
    if (chance(r, 0.5))
      headers['x-not-before'] = pick(r, [
        rfc3339(seconds - Math.floor(r() * 7200) + 600, r),
        rfc3339(631_152_000 + Math.floor(r() * 2_208_988_800), r), // 1990 to 2060
        'yesterday',
        '2026-12-03T10:00:00', // no zone: not RFC 3339
      ]);
    if (chance(r, 0.3)) headers['x-day'] = pick(r, days);
    if (chance(r, 0.4)) headers['x-size'] = pick(r, sizes);
    if (chance(r, 0.3)) headers['x-q'] = pick(r, queries);
    if (chance(r, 0.5)) headers['x-request-id'] = Math.floor(r() * 1e9).toString(16);
    if (chance(r, 0.2)) headers['x-internal'] = pick(r, ['yes', 'no']);
    if (chance(r, 0.05)) headers['x-emergency'] = 'break-glass';
    if (chance(r, 0.05)) headers['x-envoy-auth-partial-body'] = 'true';
    const payload = body(r, headers);
    if (payload !== undefined) {
      if (chance(r, 0.3))
        headers['x-signature'] = createHmac('sha256', HMAC_KEY).update(payload).digest('hex');
      else if (chance(r, 0.1)) headers['x-signature'] = 'deadbeef';
      if (chance(r, 0.1)) headers['content-length'] = String(Buffer.byteLength(payload) + pick(r, [0, 10]));
    }
    const sourceIp = chance(r, 0.95) ? pick(r, addresses) : undefined;
    const destinationPrincipal = principal(r, pick(r, ['api', 'api', 'db']));
    const sourcePrincipal = principal(r, pick(r, ['frontend', 'batch']));
    out.push({
      destination: {
        namespace: 'default',
        ip: pick(r, ['10.0.0.9', '::ffff:10.0.0.9', 'fd00::9']),
        port: pick(r, [8080, 443, 9000]),
        ...(destinationPrincipal ? { principal: destinationPrincipal } : {}),
      },
      source: {
        ...(sourceIp ? { ip: sourceIp } : {}),
        ...(chance(r, 0.9) ? { port: 1024 + Math.floor(r() * 60000) } : {}),
        ...(sourcePrincipal ? { principal: sourcePrincipal } : {}),
      },
      http: {
        method: pick(r, [
          'GET',
          'GET',
          'GET',
          'GET',
          'POST',
          'POST',
          'PUT',
          'PATCH',
          'DELETE',
          'HEAD',
          'SELECT',
        ]),
        path: path(r),
        headers,
        ...(chance(r, 0.5) ? { host: pick(r, ['api.shop.svc', 'api.shop.svc:8080', 'API.shop.svc']) } : {}),
        ...(payload !== undefined ? { body: payload } : {}),
      },
      time,
    });
  }
  return out;
}
