import { createPrivateKey, sign } from 'node:crypto';
import {
  certificatePem,
  createCsr,
  createIntermediateCertificate,
  createRootCertificate,
  exportPrivateKeyPem,
  generateKeyPair,
  issueLeaf,
  issueLeafCertificate,
  KeyAlgorithm,
  verifyCsr,
  verifyCsrFast,
} from '@warden/pki';
import type { Issuer, KeyAlgorithm as KeyAlgorithmType } from '@warden/pki';
import forge from 'node-forge';
import type { Benchmark } from './benchmark.ts';
import { round, target } from './benchmark.ts';

/**
 * X.509-SVID issuance, one leaf at a time, by the two candidate libraries for the CA's hot path:
 *
 * - `@peculiar/x509` with Node's WebCrypto (what `@warden/pki` uses), on ECDSA P-256 (Warden's
 *   default) and on RSA-2048;
 * - `node-forge`, which the original card names. It has no ECDSA at all (its `pki` signs with RSA
 *   only), so it can only be compared on RSA-2048;
 * - the CA's hot path (`issueLeaf`, libs/pki fast-leaf.ts): the same leaf written as DER from a
 *   per-issuer template and signed with `node:crypto`, on ECDSA P-256 and RSA-2048;
 * - the reference: raw `node:crypto` ECDSA P-256 signatures over a leaf-sized (~450 byte) message,
 *   the floor no library building real certificates can beat.
 *
 * Beside issuance, CSR verification of an ECDSA P-256 CSR: `verifyCsr` (@peculiar/x509) against
 * `verifyCsrFast` (libs/pki fast-csr.ts), the other half of the CA's per-request work.
 *
 * Each issuance does what the CA does per request: parse the workload's SubjectPublicKeyInfo,
 * build a leaf with the same extensions (basic constraints, key usage, client+server EKU, the
 * SPIFFE ID as URI SAN, authority key id), sign it with the intermediate key, encode it as PEM.
 * All sides run in the same process, alternating by round.
 */

const SPIFFE_ID = 'spiffe://cluster.local/ns/bench/sa/issuer';

type Side = { name: string; issue(): Promise<unknown> | unknown };

async function makeIssuer(
  algorithm: KeyAlgorithmType,
): Promise<{ issuer: Issuer; keyPem: string; spki: Buffer; csrPem: string }> {
  const rootKeys = await generateKeyPair(algorithm);
  const root = await createRootCertificate({
    trustDomain: 'cluster.local',
    keys: rootKeys,
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const interKeys = await generateKeyPair(algorithm);
  const certificate = await createIntermediateCertificate({
    trustDomain: 'cluster.local',
    keys: interKeys,
    issuer: { certificate: root, privateKey: rootKeys.privateKey },
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const csrPem = await createCsr(await generateKeyPair(algorithm), SPIFFE_ID);
  const csr = await verifyCsr(csrPem);
  return {
    issuer: { certificate, privateKey: interKeys.privateKey },
    keyPem: await exportPrivateKeyPem(interKeys.privateKey),
    spki: csr.spki,
    csrPem,
  };
}

function peculiarSide(name: string, issuer: Issuer, spki: Buffer): Side {
  return {
    name,
    issue: async () =>
      certificatePem(
        await issueLeafCertificate({ spiffeId: SPIFFE_ID, publicKey: spki, issuer, ttlSeconds: 86_400 }),
      ),
  };
}

function fastSide(name: string, issuer: Issuer, spki: Buffer): Side {
  return {
    name,
    issue: async () =>
      (await issueLeaf({ spiffeId: SPIFFE_ID, publicKey: spki, issuer, ttlSeconds: 86_400 })).pem,
  };
}

function forgeSide(issuerPem: string, issuerKeyPem: string, spki: Buffer): Side {
  const issuerCert = forge.pki.certificateFromPem(issuerPem);
  const issuerKey = forge.pki.privateKeyFromPem(issuerKeyPem);
  const spkiDer = forge.util.binary.raw.encode(spki);
  let serial = 1;
  return {
    name: 'forgeRsa2048',
    issue: () => {
      const cert = forge.pki.createCertificate();
      cert.publicKey = forge.pki.publicKeyFromAsn1(forge.asn1.fromDer(spkiDer));
      cert.serialNumber = (0x10000000 + serial++).toString(16);
      cert.validity.notBefore = new Date(Date.now() - 30_000);
      cert.validity.notAfter = new Date(Date.now() + 86_400_000);
      cert.setSubject([{ shortName: 'O', value: 'Warden' }]);
      cert.setIssuer(issuerCert.subject.attributes);
      cert.setExtensions([
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 6, value: SPIFFE_ID }] },
        {
          name: 'authorityKeyIdentifier',
          keyIdentifier: issuerCert.generateSubjectKeyIdentifier().getBytes(),
        },
      ]);
      cert.sign(issuerKey, forge.md.sha256.create());
      return forge.pki.certificateToPem(cert);
    },
  };
}

async function rawSide(): Promise<Side> {
  const keys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
  const key = createPrivateKey(await exportPrivateKeyPem(keys.privateKey));
  const tbs = Buffer.alloc(450, 7);
  return { name: 'nodeCryptoEcdsaP256Sign', issue: () => sign('sha256', tbs, key) };
}

/** Operations per second of one side over `count` sequential operations. */
async function measure(side: Side, count: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await side.issue();
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

export const pkiIssuance: Benchmark = {
  name: 'pki-issuance',
  description:
    'leaf issuance/s: DER template + node:crypto and @peculiar/x509+WebCrypto (P-256, RSA-2048) vs node-forge (RSA-2048) vs raw node:crypto; CSR verification/s',
  defaults: { leaves: 3000, rsaleaves: 300, rounds: 3 },
  run: async (params, progress) => {
    const { leaves = 1, rsaleaves = 1, rounds = 1 } = params;
    const ec = await makeIssuer(KeyAlgorithm.ecdsaP256);
    const rsa = await makeIssuer(KeyAlgorithm.rsa2048);
    const sides: { side: Side; count: number }[] = [
      { side: peculiarSide('peculiarEcdsaP256', ec.issuer, ec.spki), count: leaves },
      { side: peculiarSide('peculiarRsa2048', rsa.issuer, rsa.spki), count: rsaleaves },
      { side: fastSide('fastEcdsaP256', ec.issuer, ec.spki), count: leaves },
      { side: fastSide('fastRsa2048', rsa.issuer, rsa.spki), count: rsaleaves * 3 },
      { side: { name: 'peculiarVerifyCsrP256', issue: () => verifyCsr(ec.csrPem) }, count: leaves },
      { side: { name: 'fastVerifyCsrP256', issue: () => verifyCsrFast(ec.csrPem) }, count: leaves },
      { side: forgeSide(certificatePem(rsa.issuer.certificate), rsa.keyPem, rsa.spki), count: rsaleaves },
      { side: await rawSide(), count: leaves * 10 },
    ];
    const perRound = new Map<string, number[]>(sides.map(({ side }) => [side.name, []]));
    progress('warm-up');
    for (const { side, count } of sides) await measure(side, Math.max(10, Math.floor(count / 10)));
    for (let round_ = 0; round_ < rounds; round_++) {
      // Rotate the order every round so no side always runs first on a cold or warm process.
      const order = sides.map((_, i) => sides[(i + round_) % sides.length]).filter((s) => s !== undefined);
      for (const { side, count } of order) perRound.get(side.name)?.push(await measure(side, count));
      progress(`round ${round_ + 1}/${rounds}`);
    }
    const median = (xs: number[]): number =>
      [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
    const rate = (name: string): number => round(median(perRound.get(name) ?? []), 0);
    const rounded = (name: string): number[] => (perRound.get(name) ?? []).map((x) => round(x, 0));
    const ecdsa = rate('peculiarEcdsaP256');
    const fast = rate('fastEcdsaP256');
    const raw = rate('nodeCryptoEcdsaP256Sign');
    return {
      results: {
        fastEcdsaP256LeavesPerSec: fast,
        fastRsa2048LeavesPerSec: rate('fastRsa2048'),
        fastOverPeculiarEcdsaP256: round(fast / ecdsa, 1),
        fastVerifyCsrP256PerSec: rate('fastVerifyCsrP256'),
        peculiarVerifyCsrP256PerSec: rate('peculiarVerifyCsrP256'),
        peculiarEcdsaP256LeavesPerSec: ecdsa,
        peculiarRsa2048LeavesPerSec: rate('peculiarRsa2048'),
        forgeRsa2048LeavesPerSec: rate('forgeRsa2048'),
        peculiarOverForgeRsa2048: round(rate('peculiarRsa2048') / rate('forgeRsa2048'), 2),
        roundsPeculiarEcdsaP256: rounded('peculiarEcdsaP256'),
        roundsPeculiarRsa2048: rounded('peculiarRsa2048'),
        roundsForgeRsa2048: rounded('forgeRsa2048'),
        roundsFastEcdsaP256: rounded('fastEcdsaP256'),
      },
      baseline: { nodeCryptoEcdsaP256SignsPerSec: raw, rounds: rounded('nodeCryptoEcdsaP256Sign') },
      ratio: round(fast / raw, 3),
      target: target(
        'ECDSA P-256 leaf issuance on the hot path (issueLeaf) reaches 2,000 leaves/s on one core',
        'fastEcdsaP256LeavesPerSec',
        fast,
        '>=',
        2000,
      ),
    };
  },
};
