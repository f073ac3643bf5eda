import assert from 'node:assert/strict';
import { X509Certificate as NodeCertificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { testTrustDomain } from '@warden/testing';
import type { Issuer } from './cert.ts';
import { CertificateBuildError, issueLeafCertificate } from './cert.ts';
import { verifyCsr } from './csr.ts';
import { bytesOf, childrenOf, readSingle, Tag } from './der.ts';
import { SpiffeIdError } from './errors.ts';
import { issueLeaf } from './fast-leaf.ts';
import { inspectCertificate, verifyChain } from './inspect.ts';
import { generateKeyPair, KeyAlgorithm } from './keys.ts';
import type { KeyAlgorithm as KeyAlgorithmType } from './keys.ts';
import { toPem } from './pem.ts';
import { SubjectAlternativeNameExtension, X509Certificate } from './x509.ts';

const ID = 'spiffe://cluster.local/ns/payments/sa/api';
const YEAR = 365 * 86_400_000;

type Ca = { issuer: Issuer; node: NodeCertificate; rootPem: string; intermediatePem: string };

async function makeCa(algorithm: KeyAlgorithmType, notAfter: Date, nameConstraints = false): Promise<Ca> {
  const notBefore = new Date('1990-01-01T00:00:00Z');
  const td = await testTrustDomain('cluster.local', { algorithm, notBefore, notAfter, nameConstraints });
  return {
    issuer: td.intermediate,
    node: new NodeCertificate(Buffer.from(td.intermediate.certificate.rawData)),
    rootPem: td.rootPem,
    intermediatePem: td.intermediatePem,
  };
}

/** A workload's SubjectPublicKeyInfo, as verifyCsr hands it to the CA. */
async function spkiOf(params: EcKeyGenParams | RsaHashedKeyGenParams): Promise<Buffer> {
  const keys = await crypto.subtle.generateKey(params, true, ['sign', 'verify']);
  return Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
}
type EcKeyGenParams = { name: 'ECDSA'; namedCurve: string };
type RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5';
  modulusLength: number;
  publicExponent: Uint8Array;
  hash: string;
};

/** The TBSCertificate bytes (what the signature covers). */
function tbsOf(der: ArrayBuffer | Uint8Array): string {
  const bytes = new Uint8Array(der);
  const [tbs] = childrenOf(bytes, readSingle(bytes, Tag.sequence), 3);
  assert.ok(tbs);
  return bytesOf(bytes, tbs).toString('hex');
}

const extensionsOf = (cert: X509Certificate): { type: string; critical: boolean; value: string }[] =>
  cert.extensions.map((e) => ({
    type: e.type,
    critical: e.critical,
    value: Buffer.from(e.value).toString('hex'),
  }));

describe('fast leaf issuance', () => {
  const cas = new Map<string, Ca>();
  const spkis: Buffer[] = [];
  const ca = (name: string): Ca => {
    const c = cas.get(name);
    assert.ok(c, name);
    return c;
  };
  before(async () => {
    // Issuers valid into the 2060s, so that leaves use both UTCTime and GeneralizedTime.
    const far = new Date('2065-06-30T12:34:56.789Z');
    cas.set('ec', await makeCa(KeyAlgorithm.ecdsaP256, far));
    cas.set('rsa', await makeCa(KeyAlgorithm.rsa2048, far));
    cas.set('ec-nc', await makeCa(KeyAlgorithm.ecdsaP256, new Date(Date.now() + YEAR), true));
    const rsaParams = (modulusLength: number): RsaHashedKeyGenParams => ({
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    });
    spkis.push(
      await spkiOf({ name: 'ECDSA', namedCurve: 'P-256' }),
      await spkiOf({ name: 'ECDSA', namedCurve: 'P-256' }),
      await spkiOf({ name: 'ECDSA', namedCurve: 'P-384' }),
      await spkiOf(rsaParams(2048)),
      await spkiOf(rsaParams(3072)),
    );
  });

  it('builds exactly the leaf @peculiar/x509 builds, for random inputs', async () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,16}$/).filter((s) => s !== '.' && s !== '..');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('ec', 'rsa'),
        fc.nat({ max: spkis.length - 1 }),
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        // From 1990 to 2070: UTCTime before 2050, GeneralizedTime from 2050, and leaves capped
        // by (or starting after) the issuer's end in 2065.
        fc.integer({ min: Date.parse('1990-01-01T00:00:00Z'), max: Date.parse('2070-01-01T00:00:00Z') }),
        fc.oneof(
          fc.integer({ min: 1, max: 20 * 365 * 86_400 }),
          fc.double({ min: 0.001, max: 1e6, noNaN: true }),
        ),
        fc.uint8Array({ minLength: 1, maxLength: 19 }).filter((b) => b.some((x) => x !== 0)),
        async (caName, spkiIndex, segments, nowMs, ttlSeconds, serialBytes) => {
          const { issuer, node } = ca(caName);
          const publicKey = spkis[spkiIndex] ?? Buffer.alloc(0);
          const options = {
            spiffeId: `spiffe://cluster.local/${segments.join('/')}`,
            publicKey,
            issuer,
            ttlSeconds,
            now: new Date(nowMs),
            serial: Buffer.from(serialBytes).toString('hex'),
          };
          const fast = await issueLeaf(options);
          const reference = await issueLeafCertificate(options);

          // Node (OpenSSL) parses it, and it verifies against the issuer.
          const asNode = new NodeCertificate(fast.der);
          assert.ok(asNode.verify(node.publicKey), 'signature verifies with the issuer key');
          assert.ok(asNode.checkIssued(node), 'issued by the issuer (names, key identifiers)');
          assert.equal(asNode.ca, false);
          // @peculiar/x509 parses it and verifies the signature too.
          const asPeculiar = new X509Certificate(fast.der);
          assert.ok(
            await asPeculiar.verify({ publicKey: issuer.certificate.publicKey, signatureOnly: true }),
          );

          // Same fields and values as the reference builder's leaf.
          assert.equal(asPeculiar.subject, reference.subject);
          assert.equal(asPeculiar.issuer, reference.issuer);
          assert.equal(asPeculiar.serialNumber, reference.serialNumber);
          assert.equal(asPeculiar.notBefore.getTime(), reference.notBefore.getTime());
          assert.equal(asPeculiar.notAfter.getTime(), reference.notAfter.getTime());
          assert.deepEqual(
            Buffer.from(asPeculiar.publicKey.rawData).toString('hex'),
            publicKey.toString('hex'),
          );
          assert.deepEqual(
            Buffer.from(asPeculiar.publicKey.rawData),
            Buffer.from(reference.publicKey.rawData),
          );
          assert.deepEqual(extensionsOf(asPeculiar), extensionsOf(reference));
          assert.deepEqual(
            asPeculiar
              .getExtension(SubjectAlternativeNameExtension)
              ?.names.items.map((n) => [n.type, n.value]),
            [['url', options.spiffeId]],
          );
          assert.equal(asNode.subject, new NodeCertificate(Buffer.from(reference.rawData)).subject);
          // And in fact the very same bytes, up to the signature (ECDSA signatures are randomised).
          assert.equal(tbsOf(fast.der), tbsOf(reference.rawData));

          // What the CA reports matches what is encoded.
          assert.equal(fast.serial, inspectCertificate(fast.der).serial);
          assert.equal(fast.notBefore.getTime(), asNode.validFromDate.getTime());
          assert.equal(fast.notAfter.getTime(), asNode.validToDate.getTime());
          assert.equal(fast.pem, toPem('CERTIFICATE', fast.der));
        },
      ),
      { numRuns: 120 },
    );
  });

  it('issues a leaf that verifies as a chain, also under a name-constrained CA', async () => {
    for (const name of ['ec', 'rsa', 'ec-nc']) {
      const c = ca(name);
      for (const publicKey of spkis) {
        const leaf = await issueLeaf({ spiffeId: ID, publicKey, issuer: c.issuer, ttlSeconds: 3600 });
        const verified = verifyChain({ chain: [leaf.pem, c.intermediatePem], roots: c.rootPem });
        assert.equal(verified.spiffeId.uri, ID);
        assert.match(leaf.serial, /^[1-9a-f][0-9a-f]*$/);
        assert.ok(Math.abs(leaf.notAfter.getTime() - (Date.now() + 3600_000)) < 5000);
      }
    }
  });

  it('accepts the SPKI verifyCsr returns', async () => {
    const { createCsr } = await import('./csr.ts');
    const csr = await verifyCsr(await createCsr(await generateKeyPair(), ID));
    const leaf = await issueLeaf({
      spiffeId: ID,
      publicKey: csr.spki,
      issuer: ca('ec').issuer,
      ttlSeconds: 60,
    });
    assert.ok(
      new NodeCertificate(leaf.der).publicKey.export({ type: 'spki', format: 'der' }).equals(csr.spki),
    );
  });

  it('refuses what the reference builder refuses, and malformed keys and serials', async () => {
    const { issuer } = ca('ec');
    const base = { spiffeId: ID, publicKey: spkis[0] ?? Buffer.alloc(0), issuer, ttlSeconds: 60 };
    for (const ttlSeconds of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await assert.rejects(issueLeaf({ ...base, ttlSeconds }), CertificateBuildError);
      await assert.rejects(issueLeafCertificate({ ...base, ttlSeconds }), CertificateBuildError);
    }
    await assert.rejects(issueLeaf({ ...base, spiffeId: 'spiffe://cluster.local' }), CertificateBuildError);
    await assert.rejects(issueLeaf({ ...base, spiffeId: 'spiffe://Cluster.local/a' }), SpiffeIdError);
    await assert.rejects(
      issueLeafCertificate({ ...base, spiffeId: 'spiffe://Cluster.local/a' }),
      SpiffeIdError,
    );
    // The SPKI goes in verbatim, so it must be exactly one well-formed SubjectPublicKeyInfo.
    const spki = spkis[0] ?? Buffer.alloc(0);
    for (const publicKey of [
      Buffer.alloc(0),
      Buffer.concat([spki, Buffer.from([0x05, 0x00])]),
      spki.subarray(0, spki.length - 1),
      Buffer.from([0x30, 0x00]),
      Buffer.from([0x04, 0x02, 0x30, 0x00]),
    ])
      await assert.rejects(issueLeaf({ ...base, publicKey }), CertificateBuildError);
    for (const serial of ['', '0', '00', 'xyz', '-1', 'ff'.repeat(20), '01'.repeat(21)])
      await assert.rejects(issueLeaf({ ...base, serial }), CertificateBuildError, serial);
    // 20 octets with the high bit clear is the longest serial RFC 5280 allows.
    const longest = await issueLeaf({ ...base, serial: '7f'.repeat(20) });
    assert.equal(longest.serial, '7f'.repeat(20));
    // A private key that does not belong to the issuer certificate signs nothing.
    const impostor = { certificate: issuer.certificate, privateKey: (await generateKeyPair()).privateKey };
    await assert.rejects(issueLeaf({ ...base, issuer: impostor }), CertificateBuildError);
  });
});
