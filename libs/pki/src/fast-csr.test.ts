import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createCsr, verifyCsr } from './csr.ts';
import type { VerifiedCsr } from './csr.ts';
import { readCsr, tryVerifyCsr, verifyCsrFast } from './fast-csr.ts';
import { generateKeyPair, KeyAlgorithm } from './keys.ts';
import { decodePem, toPem } from './pem.ts';
import type { CryptoKeyPair } from './webcrypto.ts';
import type { Extension } from './x509.ts';
import {
  KeyUsageFlags,
  KeyUsagesExtension,
  Pkcs10CertificateRequestGenerator,
  SubjectAlternativeNameExtension,
} from './x509.ts';

const ID = 'spiffe://cluster.local/ns/payments/sa/api';
const LABEL = 'CERTIFICATE REQUEST';

type Outcome =
  | { ok: true; uri: string; der: string; spki: string; key: string; publicKey: string }
  | { ok: false; name: string; code: string };

const describeResult = (csr: VerifiedCsr): Outcome => ({
  ok: true,
  uri: csr.spiffeId.uri,
  der: csr.der.toString('hex'),
  spki: csr.spki.toString('hex'),
  key: JSON.stringify(csr.key),
  publicKey: csr.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'),
});

async function outcome(run: () => Promise<VerifiedCsr>): Promise<Outcome> {
  try {
    return describeResult(await run());
  } catch (err) {
    const e = err as { name?: string; code?: string };
    return { ok: false, name: e.name ?? 'unknown', code: e.code ?? 'none' };
  }
}

/** The fast path and the reference decide the same: same result, or same error class and code. */
async function assertSame(input: string | Uint8Array, label = ''): Promise<Outcome> {
  const reference = await outcome(() => verifyCsr(input));
  const fast = await outcome(() => verifyCsrFast(input));
  assert.deepEqual(fast, reference, label);
  return reference;
}

const derOf = (pem: string): Buffer => {
  const [der] = decodePem(pem, LABEL, 'CSR', { maxBytes: 1 << 20, maxBlocks: 1 });
  assert.ok(der);
  return der;
};

type KeyParams =
  | { name: 'ECDSA'; namedCurve: string }
  | { name: 'RSASSA-PKCS1-v1_5'; modulusLength: number; publicExponent: Uint8Array; hash: string };

const ec = (namedCurve: string): KeyParams => ({ name: 'ECDSA', namedCurve });
/** WebCrypto binds an RSA key to its hash: the CSR is signed with this one, whatever `hash` says. */
const rsa = (modulusLength: number, hash = 'SHA-256'): KeyParams => ({
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash,
});

async function csrWith(options: {
  keys: CryptoKeyPair;
  signingKey?: CryptoKeyPair['privateKey'];
  hash: string;
  name?: string;
  extensions?: Extension[];
}): Promise<Buffer> {
  const algorithm = options.keys.privateKey.algorithm.name;
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: options.name ?? 'CN=test',
    keys: { publicKey: options.keys.publicKey, privateKey: options.signingKey ?? options.keys.privateKey },
    signingAlgorithm: { name: algorithm, hash: options.hash },
    extensions: options.extensions ?? [san([ID])],
  });
  return Buffer.from(csr.rawData);
}

const san = (uris: readonly string[], dns: readonly string[] = []): Extension =>
  new SubjectAlternativeNameExtension([
    ...dns.map((value) => ({ type: 'dns' as const, value })),
    ...uris.map((value) => ({ type: 'url' as const, value })),
  ]);

describe('fast CSR verification', () => {
  const keys = new Map<string, CryptoKeyPair>();
  const key = (name: string): CryptoKeyPair => {
    const k = keys.get(name);
    assert.ok(k, name);
    return k;
  };
  before(async () => {
    const params: Record<string, KeyParams> = {
      p256: ec('P-256'),
      p256b: ec('P-256'),
      p384: ec('P-384'),
      p521: ec('P-521'),
      rsa2048: rsa(2048),
      rsa2048sha1: rsa(2048, 'SHA-1'),
      rsa2048sha512: rsa(2048, 'SHA-512'),
      rsa1024: rsa(1024),
    };
    for (const [name, p] of Object.entries(params))
      keys.set(name, await crypto.subtle.generateKey(p, true, ['sign', 'verify']));
  });

  it('takes the fast path for the CSRs Warden, SPIRE and Go write, with the same result', async () => {
    const cases: [string, Buffer][] = [
      ['createCsr P-256', derOf(await createCsr(await generateKeyPair(KeyAlgorithm.ecdsaP256), ID))],
      ['createCsr RSA-2048', derOf(await createCsr(await generateKeyPair(KeyAlgorithm.rsa2048), ID))],
      ['P-256 SHA-384', await csrWith({ keys: key('p256'), hash: 'SHA-384' })],
      ['P-256 SHA-512', await csrWith({ keys: key('p256'), hash: 'SHA-512' })],
      ['P-384 SHA-256', await csrWith({ keys: key('p384'), hash: 'SHA-256' })],
      ['P-384 SHA-384', await csrWith({ keys: key('p384'), hash: 'SHA-384' })],
      ['RSA SHA-512', await csrWith({ keys: key('rsa2048sha512'), hash: 'SHA-512' })],
      ['empty subject', await csrWith({ keys: key('p256'), hash: 'SHA-256', name: '' })],
      ['longer subject', await csrWith({ keys: key('p256'), hash: 'SHA-256', name: 'CN=a b, O=c, C=DE' })],
      ['critical SAN', await csrWith({ keys: key('p256'), hash: 'SHA-256', extensions: [criticalSan()] })],
    ];
    for (const [label, der] of cases) {
      assert.ok(await tryVerifyCsr(der), `${label}: fast path declined`);
      const result = await assertSame(der, label);
      assert.equal(result.ok, true, label);
      await assertSame(toPem(LABEL, der), `${label} (PEM)`);
    }
  });

  it('refuses what verifyCsr refuses, with the same error class and code', async () => {
    const good = await csrWith({ keys: key('p256'), hash: 'SHA-256' });
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 0x01;
    const cases: [string, Buffer | string, string][] = [
      ['RSA-1024', await csrWith({ keys: key('rsa1024'), hash: 'SHA-256' }), 'unsupported_key'],
      ['P-521', await csrWith({ keys: key('p521'), hash: 'SHA-512' }), 'unsupported_key'],
      ['ECDSA SHA-1', await csrWith({ keys: key('p256'), hash: 'SHA-1' }), 'csr_bad_signature'],
      ['RSA SHA-1', await csrWith({ keys: key('rsa2048sha1'), hash: 'SHA-1' }), 'csr_bad_signature'],
      ['bad signature', flipped, 'csr_bad_signature'],
      [
        'signed by another key',
        await csrWith({ keys: key('p256'), signingKey: key('p256b').privateKey, hash: 'SHA-256' }),
        'csr_bad_signature',
      ],
      [
        'two URI SANs',
        await csrWith({ keys: key('p256'), hash: 'SHA-256', extensions: [san([ID, `${ID}2`])] }),
        'csr_identity',
      ],
      ['no SAN', await csrWith({ keys: key('p256'), hash: 'SHA-256', extensions: [] }), 'csr_identity'],
      [
        'DNS SAN only',
        await csrWith({ keys: key('p256'), hash: 'SHA-256', extensions: [san([], ['a.example'])] }),
        'csr_identity',
      ],
      [
        'not SPIFFE',
        await csrWith({ keys: key('p256'), hash: 'SHA-256', extensions: [san(['https://a.example/x'])] }),
        'csr_identity',
      ],
      [
        'bad SPIFFE',
        await csrWith({
          keys: key('p256'),
          hash: 'SHA-256',
          extensions: [san(['spiffe://Cluster.local/a'])],
        }),
        'csr_identity',
      ],
      [
        'two SAN extensions',
        await csrWith({ keys: key('p256'), hash: 'SHA-256', extensions: [san([ID]), san([ID])] }),
        'csr_identity',
      ],
      ['garbage', randomBytes(300), 'malformed_input'],
      ['garbage PEM', toPem(LABEL, randomBytes(2000)), 'malformed_input'],
      ['empty', Buffer.alloc(0), 'malformed_input'],
      ['not PEM', 'not a pem at all', 'malformed_input'],
      ['oversized DER', randomBytes(16_385), 'input_too_large'],
      ['oversized PEM', toPem(LABEL, randomBytes(64 * 1024)), 'input_too_large'],
      ['truncated', good.subarray(0, good.length - 1), 'malformed_input'],
    ];
    for (const [label, input, code] of cases) {
      const result = await assertSame(input, label);
      assert.equal(result.ok ? 'accepted' : result.code, code, label);
      if (typeof input !== 'string') assert.equal(await tryVerifyCsr(Buffer.from(input)), undefined, label);
    }
  });

  it('decides like verifyCsr on every truncation of a valid CSR', async () => {
    const good = await csrWith({ keys: key('p256'), hash: 'SHA-256' });
    for (let n = 0; n < good.length; n++) {
      const prefix = good.subarray(0, n);
      assert.equal(readCsr(prefix), undefined);
      await assertSame(prefix, `prefix ${n}`);
    }
  });

  it('leaves non-DER encodings and other shapes to verifyCsr (which decides as before)', async () => {
    const good = await csrWith({ keys: key('p256'), hash: 'SHA-256' });
    const body = good.subarray(4); // 30 82 xx xx: the outer header of a CSR of 256..65535 bytes
    assert.equal(good[1], 0x82);
    const variants: [string, Buffer][] = [
      ['trailing zero bytes', Buffer.concat([good, Buffer.from([0, 0])])],
      ['trailing byte', Buffer.concat([good, Buffer.from([5])])],
      ['indefinite length', Buffer.concat([Buffer.from([0x30, 0x80]), body, Buffer.from([0, 0])])],
      ['non-minimal length', Buffer.concat([Buffer.from([0x30, 0x83, 0, good[2] ?? 0, good[3] ?? 0]), body])],
      [
        'SAN with a DNS name too',
        await csrWith({ keys: key('p256'), hash: 'SHA-256', extensions: [san([ID], ['a.example'])] }),
      ],
      [
        'another extension',
        await csrWith({
          keys: key('p256'),
          hash: 'SHA-256',
          extensions: [san([ID]), new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true)],
        }),
      ],
      ['UTF-8 subject', await csrWith({ keys: key('p256'), hash: 'SHA-256', name: 'CN=Zoë' })],
    ];
    for (const [label, der] of variants) {
      assert.equal(readCsr(der), undefined, `${label}: the fast reader must not read it`);
      await assertSame(der, label);
    }
  });

  it('decides like verifyCsr on random subjects, SANs, keys and hashes', async () => {
    const uri = fc.oneof(
      fc.constant(ID),
      fc
        .array(fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/), { minLength: 1, maxLength: 4 })
        .map((segments) => `spiffe://cluster.local/${segments.join('/')}`),
      fc.constantFrom('spiffe://Cluster.local/a', 'spiffe://x/a/', 'https://x/a', 'spiffe://x/a?b', ''),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('p256', 'p384', 'rsa2048', 'rsa2048sha1', 'rsa2048sha512', 'rsa1024'),
        fc.constantFrom('SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'),
        fc.array(fc.stringMatching(/^[A-Za-z0-9 ]{1,16}$/), { maxLength: 3 }),
        fc.array(uri, { maxLength: 3 }),
        fc.array(fc.domain(), { maxLength: 2 }),
        async (keyName, hash, cns, uris, dns) => {
          const name = cns.map((cn) => `CN=${cn.trim() || 'x'}`).join(', ');
          const extensions = uris.length + dns.length > 0 ? [san(uris, dns)] : [];
          const der = await csrWith({ keys: key(keyName), hash, name, extensions });
          await assertSame(der, `${keyName} ${hash} ${name} ${uris.join(' ')} ${dns.join(' ')}`);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('decides like verifyCsr on randomly corrupted CSRs', async () => {
    const goods = [
      await csrWith({ keys: key('p256'), hash: 'SHA-256' }),
      await csrWith({ keys: key('rsa2048'), hash: 'SHA-256' }),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1),
        fc.array(
          fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        async (which, edits) => {
          const bytes = [...(goods[which] ?? Buffer.alloc(0))];
          for (const [at, value, op] of edits) {
            const i = at % (bytes.length + 1);
            if (op === 'set') bytes[Math.min(i, bytes.length - 1)] = value;
            else if (op === 'insert') bytes.splice(i, 0, value);
            else bytes.splice(i, 1);
          }
          await assertSame(Buffer.from(bytes), JSON.stringify(edits));
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** A SAN extension marked critical (allowed; RFC 5280 requires it when the subject is empty). */
function criticalSan(): Extension {
  return new SubjectAlternativeNameExtension([{ type: 'url', value: ID }], true);
}
