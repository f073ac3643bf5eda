import assert from 'node:assert/strict';
import { X509Certificate as NodeCertificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { testTrustDomain } from '@warden/testing';
import type { TestTrustDomain } from '@warden/testing';
import { certificatePem, issueLeafCertificate, newSerial } from './cert.ts';
import { createCsr, verifyCsr } from './csr.ts';
import { ChainProblem, ChainVerificationError, MalformedInputError } from './errors.ts';
import { inspectCertificate, peerSpiffeId, verifyChain } from './inspect.ts';
import { generateKeyPair, KeyAlgorithm } from './keys.ts';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509Certificate,
  X509CertificateGenerator,
} from './x509.ts';

const DAY = 86_400_000;
const ID = 'spiffe://cluster.local/ns/payments/sa/api';

async function leafFor(ca: TestTrustDomain, spiffeId = ID, ttlSeconds = 3600, now?: Date): Promise<string> {
  return certificatePem((await ca.leaf(spiffeId, { ttlSeconds, now })).certificate);
}

describe('certificate building', () => {
  for (const algorithm of [KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048]) {
    it(`builds root, intermediate and leaf with the right extensions (${algorithm})`, async () => {
      const ca = await testTrustDomain('cluster.local', { algorithm });
      const root = ca.root.certificate;
      const rootBc = root.getExtension(BasicConstraintsExtension);
      assert.equal(rootBc?.ca, true);
      assert.equal(rootBc?.pathLength, 1);
      assert.equal(rootBc?.critical, true);
      assert.ok(((root.getExtension(KeyUsagesExtension)?.usages ?? 0) & KeyUsageFlags.keyCertSign) !== 0);
      assert.equal(ca.intermediate.certificate.getExtension(BasicConstraintsExtension)?.pathLength, 0);

      const leafPem = await leafFor(ca);
      const leaf = new X509Certificate(leafPem);
      assert.equal(leaf.getExtension(BasicConstraintsExtension)?.ca, false);
      const usages = leaf.getExtension(KeyUsagesExtension)?.usages ?? 0;
      assert.ok(usages & KeyUsageFlags.digitalSignature);
      assert.equal((usages & KeyUsageFlags.keyCertSign) !== 0, false);
      assert.deepEqual(
        [...(leaf.getExtension(ExtendedKeyUsageExtension)?.usages ?? [])],
        [ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth],
      );
      const info = inspectCertificate(leafPem);
      assert.equal(info.spiffeId, ID);
      assert.equal(info.isCa, false);
      assert.ok(
        info.notAfter.getTime() - Date.now() <= 3600_000 && info.notAfter.getTime() - Date.now() > 3500_000,
      );
      assert.match(info.serial, /^[1-9a-f][0-9a-f]*$/);
      assert.equal(inspectCertificate(ca.rootPem).spiffeId, 'spiffe://cluster.local');
    });
  }

  it('writes a critical URI name constraint when asked, which OpenSSL parses', async () => {
    const ca = await testTrustDomain('cluster.local', { nameConstraints: true });
    const ext = ca.intermediate.certificate.extensions.find((e) => e.type === '2.5.29.30');
    assert.equal(ext?.critical, true);
    // OpenSSL (behind node:crypto and node:tls) parses the extension: a bad encoding would throw here.
    assert.equal(new NodeCertificate(ca.intermediatePem).ca, true);
    // The chain of a leaf inside the trust domain still verifies.
    const leaf = await leafFor(ca);
    assert.equal(verifyChain({ chain: [leaf, ca.intermediatePem], roots: ca.rootPem }).spiffeId.uri, ID);
  });

  it('never lets a leaf outlive its issuer, and makes distinct positive serials', async () => {
    const ca = await testTrustDomain('cluster.local', { notAfter: new Date(Date.now() + 30 * DAY) });
    const leaf = inspectCertificate(await leafFor(ca, ID, 365 * 86_400));
    assert.equal(leaf.notAfter.getTime(), ca.intermediate.certificate.notAfter.getTime());
    const serials = new Set(Array.from({ length: 1000 }, newSerial));
    assert.equal(serials.size, 1000);
    for (const s of serials) assert.match(s, /^[0-7][0-9a-f]{31}$/);
  });
});

describe('chain verification', () => {
  it('verifies leaf + intermediate against the root bundle and returns the SPIFFE ID', async () => {
    const ca = await testTrustDomain();
    const leaf = await leafFor(ca);
    const verified = verifyChain({
      chain: leaf + ca.intermediatePem,
      roots: [ca.rootPem],
      trustDomain: 'cluster.local',
    });
    assert.equal(verified.spiffeId.uri, ID);
    assert.equal(verified.path.length, 3);
    assert.equal(peerSpiffeId(verified.leaf.der), ID);
  });

  const expectProblem = (fn: () => unknown, problem: ChainProblem): void =>
    assert.throws(fn, (err: unknown) => err instanceof ChainVerificationError && err.problem === problem);

  it('says why a chain fails: expired, not yet valid, untrusted, trust domain, missing link', async () => {
    const ca = await testTrustDomain();
    const other = await testTrustDomain('other.example');
    const expired = await leafFor(ca, ID, 60, new Date(Date.now() - 2 * DAY));
    expectProblem(
      () => verifyChain({ chain: [expired, ca.intermediatePem], roots: ca.rootPem }),
      ChainProblem.expired,
    );
    const future = await leafFor(ca, ID, 60, new Date(Date.now() + 2 * DAY));
    expectProblem(
      () => verifyChain({ chain: [future, ca.intermediatePem], roots: ca.rootPem }),
      ChainProblem.notYetValid,
    );

    const foreign = await leafFor(other, 'spiffe://other.example/ns/a/sa/b');
    expectProblem(
      () => verifyChain({ chain: [foreign, other.intermediatePem], roots: ca.rootPem }),
      ChainProblem.untrusted,
    );
    expectProblem(
      () =>
        verifyChain({
          chain: [foreign, other.intermediatePem],
          roots: other.rootPem,
          trustDomain: 'cluster.local',
        }),
      ChainProblem.trustDomainMismatch,
    );
    const leaf = await leafFor(ca);
    // Without its intermediate, the leaf does not chain to the root.
    expectProblem(() => verifyChain({ chain: [leaf], roots: ca.rootPem }), ChainProblem.untrusted);
    // Paired with another CA's intermediate: the names differ.
    expectProblem(
      () => verifyChain({ chain: [leaf, other.intermediatePem], roots: other.rootPem }),
      ChainProblem.issuerMismatch,
    );
    // A CA certificate is not a workload identity.
    expectProblem(
      () => verifyChain({ chain: [ca.intermediatePem], roots: ca.rootPem }),
      ChainProblem.leafIsCa,
    );
  });

  it('detects a forged signature from a key with the same names', async () => {
    const ca = await testTrustDomain();
    const impostorKeys = await generateKeyPair();
    const impostor = { certificate: ca.intermediate.certificate, privateKey: impostorKeys.privateKey };
    const csr = await verifyCsr(await createCsr(await generateKeyPair(), ID));
    const forged = await issueLeafCertificate({
      spiffeId: ID,
      publicKey: csr.spki,
      issuer: impostor,
      ttlSeconds: 60,
    });
    expectProblem(
      () => verifyChain({ chain: [certificatePem(forged), ca.intermediatePem], roots: ca.rootPem }),
      ChainProblem.badSignature,
    );
  });

  it('refuses malformed and oversized chains with a clear error', () => {
    assert.throws(() => verifyChain({ chain: 'garbage', roots: 'garbage' }), MalformedInputError);
    const block = `-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`;
    assert.throws(() => verifyChain({ chain: block, roots: block }), MalformedInputError);
    assert.throws(() => verifyChain({ chain: block.repeat(6), roots: block }), MalformedInputError);
  });
});

describe('peerSpiffeId reads the URI SAN from the DER as @peculiar/x509 reads it', () => {
  /** The reference: a full parse, then the SAN extension's URIs, one of them a SPIFFE ID. */
  const reference = (der: Buffer): string | null => {
    const san = new X509Certificate(der).getExtension(SubjectAlternativeNameExtension);
    const uris = san ? san.names.items.filter((n) => n.type === 'url').map((n) => n.value) : [];
    return uris.length === 1 && uris[0]?.startsWith('spiffe://') ? (uris[0] ?? null) : null;
  };

  const selfSigned = async (names: { type: 'url' | 'dns'; value: string }[]): Promise<Buffer> => {
    const keys = await generateKeyPair();
    const cert = await X509CertificateGenerator.createSelfSigned({
      serialNumber: newSerial(),
      name: 'CN=test',
      keys,
      notAfter: new Date(Date.now() + DAY),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: names.length ? [new SubjectAlternativeNameExtension(names)] : [],
    });
    return Buffer.from(cert.rawData);
  };

  it('agrees on leaves, CAs, several URIs, DNS names only and no SAN at all', async () => {
    const ca = await testTrustDomain();
    const cases: [string, Buffer, string | null][] = [
      ['leaf', new NodeCertificate(await leafFor(ca, ID, 3600)).raw, ID],
      ['root', new NodeCertificate(ca.rootPem).raw, 'spiffe://cluster.local'],
      ['intermediate', new NodeCertificate(ca.intermediatePem).raw, 'spiffe://cluster.local'],
      [
        'two URIs',
        await selfSigned([
          { type: 'url', value: ID },
          { type: 'url', value: 'spiffe://cluster.local/ns/x/sa/y' },
        ]),
        null,
      ],
      ['a DNS name only', await selfSigned([{ type: 'dns', value: 'api.example' }]), null],
      ['no SAN', await selfSigned([]), null],
      ['an https URI', await selfSigned([{ type: 'url', value: 'https://api.example/' }]), null],
    ];
    for (const [label, der, expected] of cases) {
      assert.equal(reference(der), expected, `${label}: reference`);
      assert.equal(peerSpiffeId(der), expected, label);
    }
    assert.equal(peerSpiffeId(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])), null, 'not a certificate');
    assert.equal(peerSpiffeId(undefined), null);
  });
});
