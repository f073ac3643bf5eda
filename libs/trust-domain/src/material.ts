import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { importPrivateKey, loadCertificate } from '@warden/pki';
import type { Issuer, KeyAlgorithm } from '@warden/pki';
import { CaStateError } from './errors.ts';
import { fileNames, readFolderFile, readFolderJson } from './folder.ts';
import type { Role } from './folder.ts';
import type { Manifest } from './manifest.ts';
import { sealContext, sealedBoxSchema } from './sealing.ts';
import type { Kms } from './sealing.ts';

export type RootGeneration = {
  readonly id: number;
  readonly issuer: Issuer;
  readonly pem: string;
  readonly notAfter: Date;
};

export type IntermediateGeneration = RootGeneration & {
  readonly root: number;
  readonly activateAt: Date;
};

/** The generations of a trust domain, loaded: certificates with their unsealed keys. */
export type TrustDomainMaterial = {
  readonly trustDomain: string;
  readonly algorithm: KeyAlgorithm;
  /** Counts the roots ever added; the bundle's sequence adds the roots dropped since. */
  readonly bundleSequence: number;
  readonly roots: readonly RootGeneration[];
  readonly intermediates: readonly IntermediateGeneration[];
  /** True when this call created the trust domain. */
  readonly created: boolean;
};

/** Where a trust domain lives and how its new generations are made. */
export type StateOptions = {
  dir: string;
  kms: Kms;
  trustDomain: string;
  algorithm: KeyAlgorithm;
  rootTtlDays: number;
  intermediateTtlDays: number;
  nameConstraints: boolean;
};

/** Refuses files that do not belong together: a key for another certificate. */
function checkKeyMatches(label: string, certPem: string, keyDer: Buffer): X509Certificate {
  const cert = new X509Certificate(certPem);
  const fromKey = createPublicKey(createPrivateKey({ key: keyDer, format: 'der', type: 'pkcs8' }));
  if (
    !fromKey
      .export({ type: 'spki', format: 'der' })
      .equals(cert.publicKey.export({ type: 'spki', format: 'der' }))
  )
    throw new CaStateError(`the ${label} key does not match the ${label} certificate`);
  return cert;
}

async function loadGeneration(
  options: StateOptions,
  manifest: Manifest,
  role: Role,
  id: number,
): Promise<{ issuer: Issuer; pem: string; x509: X509Certificate }> {
  const label = id === 1 ? role : `${role} ${id}`;
  const files = fileNames(role, id);
  const pem = readFolderFile(options.dir, files.cert);
  const box = readFolderJson(options.dir, files.key, sealedBoxSchema, 'a sealed key file');
  const der = await options.kms.open(box, sealContext(manifest.trustDomain, role, id));
  const x509 = checkKeyMatches(label, pem, der);
  return {
    issuer: {
      certificate: loadCertificate(pem),
      privateKey: await importPrivateKey(der, manifest.algorithm),
    },
    pem,
    x509,
  };
}

/** Loads every generation the manifest lists, checking that each key fits and each chain holds. */
export async function loadMaterial(options: StateOptions, manifest: Manifest): Promise<TrustDomainMaterial> {
  if (manifest.trustDomain !== options.trustDomain)
    throw new CaStateError(
      `${options.dir} holds trust domain ${manifest.trustDomain}, but WARDEN_TRUST_DOMAIN is ${options.trustDomain}`,
    );
  const roots: (RootGeneration & { x509: X509Certificate })[] = [];
  for (const { id } of manifest.roots) {
    const g = await loadGeneration(options, manifest, 'root', id);
    roots.push({ id, issuer: g.issuer, pem: g.pem, notAfter: new Date(g.x509.validTo), x509: g.x509 });
  }
  const intermediates: IntermediateGeneration[] = [];
  for (const entry of manifest.intermediates) {
    const g = await loadGeneration(options, manifest, 'intermediate', entry.id);
    const root = roots.find((r) => r.id === entry.root);
    if (!root || !g.x509.checkIssued(root.x509) || !g.x509.verify(root.x509.publicKey))
      throw new CaStateError(
        `intermediate ${entry.id} does not chain to root ${entry.root} of ${manifest.trustDomain}`,
      );
    intermediates.push({
      id: entry.id,
      root: entry.root,
      activateAt: new Date(entry.activateAt),
      issuer: g.issuer,
      pem: g.pem,
      notAfter: new Date(g.x509.validTo),
    });
  }
  return {
    trustDomain: manifest.trustDomain,
    algorithm: manifest.algorithm,
    bundleSequence: manifest.bundleSequence,
    roots: roots.map(({ x509: _x509, ...r }) => r),
    intermediates,
    created: false,
  };
}
