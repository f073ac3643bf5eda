import type { webcrypto } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  certificatePem,
  createCrl,
  createIntermediateCertificate,
  createRootCertificate,
  exportPrivateKeyPem,
  generateKeyPair,
  issueLeafCertificate,
  MAX_CRL_BLOCKS,
  parseCrls,
} from '@warden/pki';
import type { Issuer, KeyAlgorithm, X509Certificate } from '@warden/pki';

export type TestTrustDomainOptions = {
  /** The CAs' key algorithm (ECDSA P-256 unless said). */
  algorithm?: KeyAlgorithm;
  /** Both CAs carry the critical name constraint permitting only this trust domain's URIs. */
  nameConstraints?: boolean;
  /** Both CAs' validity: from now (backdated as the CA does) for a year unless said. */
  notBefore?: Date;
  notAfter?: Date;
};

export type TestLeafOptions = {
  /** Lifetime from `now`, one hour unless said; capped to the issuer's, as the CA does. */
  ttlSeconds?: number;
  /** Issues as if at this time: for expired and not-yet-valid leaves. */
  now?: Date;
  /** The workload key's algorithm (ECDSA P-256 unless said). */
  algorithm?: KeyAlgorithm;
};

/** An X.509-SVID with its new key, as a workload holds it. */
export type TestLeaf = {
  readonly keys: webcrypto.CryptoKeyPair;
  readonly keyPem: string;
  readonly certificate: X509Certificate;
  /** The leaf, then its issuer: what the CA returns and the agent writes. */
  readonly chainPem: string[];
};

/** A root, an intermediate under it, and leaves on demand: a trust domain of its own for a test. */
export type TestTrustDomain = {
  readonly trustDomain: string;
  readonly root: Issuer;
  readonly intermediate: Issuer;
  readonly rootPem: string;
  readonly intermediatePem: string;
  /** The trust bundle as the CA publishes it: this root alone, sequence 1. */
  readonly bundle: { readonly trustDomain: string; readonly sequence: number; readonly rootsPem: string[] };
  /** An SVID signed by the intermediate. */
  leaf(spiffeId: string, options?: TestLeafOptions): Promise<TestLeaf>;
  /** The root's CRL, then the intermediate's listing `serials`, as the CA's /v1/crl.pem serves them. */
  crls(options?: { serials?: readonly string[]; thisUpdate?: Date; nextUpdate?: Date }): Promise<string>;
};

/**
 * A new trust domain, built as the CA builds its first generation (names, extensions, path
 * lengths) but in memory, with keys the test holds: another CA of the same name, another trust
 * domain's CA, or the only CA of a unit test.
 */
export async function testTrustDomain(
  trustDomain = 'cluster.local',
  options: TestTrustDomainOptions = {},
): Promise<TestTrustDomain> {
  const validity = {
    notBefore: options.notBefore,
    notAfter: options.notAfter ?? new Date(Date.now() + 365 * 86_400_000),
  };
  const ca = { trustDomain, nameConstraints: options.nameConstraints ?? false, ...validity };
  const rootKeys = await generateKeyPair(options.algorithm);
  const root: Issuer = {
    certificate: await createRootCertificate({ ...ca, keys: rootKeys }),
    privateKey: rootKeys.privateKey,
  };
  const interKeys = await generateKeyPair(options.algorithm);
  const intermediate: Issuer = {
    certificate: await createIntermediateCertificate({ ...ca, keys: interKeys, issuer: root }),
    privateKey: interKeys.privateKey,
  };
  const rootPem = certificatePem(root.certificate);
  return {
    trustDomain,
    root,
    intermediate,
    rootPem,
    intermediatePem: certificatePem(intermediate.certificate),
    bundle: { trustDomain, sequence: 1, rootsPem: [rootPem] },
    leaf: (spiffeId, leafOptions) => testLeaf(intermediate, spiffeId, leafOptions),
    crls: async ({
      serials = [],
      thisUpdate = new Date(),
      nextUpdate = new Date(Date.now() + 3_600_000),
    } = {}) => {
      const times = { thisUpdate, nextUpdate };
      const entries = serials.map((serial) => ({ serial, revokedAt: thisUpdate }));
      const rootCrl = await createCrl({ issuer: root, entries: [], ...times });
      return rootCrl.pem + (await createCrl({ issuer: intermediate, entries, ...times })).pem;
    },
  };
}

/** An SVID for `spiffeId` with a new key, signed by `issuer` (a test CA's, or a real CA's opened key). */
export async function testLeaf(
  issuer: Issuer,
  spiffeId: string,
  options: TestLeafOptions = {},
): Promise<TestLeaf> {
  const keys = await generateKeyPair(options.algorithm);
  const certificate = await issueLeafCertificate({
    spiffeId,
    // The SubjectPublicKeyInfo, as the CA takes it from a CSR.
    publicKey: new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey)),
    issuer,
    ttlSeconds: options.ttlSeconds ?? 3600,
    now: options.now,
  });
  return {
    keys,
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    certificate,
    chainPem: [certificatePem(certificate), certificatePem(issuer.certificate)],
  };
}

/** A CRL file's blocks, one per element: node:tls loads one CRL per `crl` element (of a PEM, its first). */
export const crlBlocks = (text: string): string[] =>
  parseCrls(text, 'CRL file', { maxBytes: 1 << 20, maxBlocks: MAX_CRL_BLOCKS }).map((crl) => crl.pem);

/**
 * What the agent leaves for a workload, in its layout: `cert-chain.pem` (the leaf, then its
 * issuer), `key.pem` (0600) and `root-cert.pem`, written into `dir` (made if missing). Returns the
 * new SVID.
 */
export async function writeAgentFiles(
  domain: TestTrustDomain,
  spiffeId: string,
  dir: string,
): Promise<TestLeaf> {
  const leaf = await domain.leaf(spiffeId);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cert-chain.pem'), leaf.chainPem.join(''));
  writeFileSync(join(dir, 'key.pem'), leaf.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'root-cert.pem'), domain.rootPem);
  return leaf;
}
