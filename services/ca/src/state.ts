import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  certificatePem,
  createIntermediateCertificate,
  createRootCertificate,
  exportPrivateKeyDer,
  generateKeyPair,
  importPrivateKey,
  KeyAlgorithm,
  loadCertificate,
} from '@warden/pki';
import type { Issuer, KeyAlgorithm as KeyAlgorithmType } from '@warden/pki';
import { z } from 'zod';
import { CaStateError } from './errors.ts';
import type { Kms, SealedBox } from './kms.ts';

/**
 * The trust domain's material on disk, in WARDEN_CA_DIR:
 *
 *   ca.json                  manifest, written last: its presence means the trust domain exists
 *   root.pem, intermediate.pem         certificates (public)
 *   root.key.sealed, intermediate.key.sealed   PKCS#8 keys sealed by the Kms (never in clear)
 *
 * Every file is written to a temporary name, fsynced and renamed, mode 0600, in a 0700 folder.
 * A first start interrupted before the manifest leaves no trust domain, and the next start
 * creates one afresh (nothing was published or issued under the half-made one).
 */
export const Files = {
  manifest: 'ca.json',
  rootCert: 'root.pem',
  rootKey: 'root.key.sealed',
  intermediateCert: 'intermediate.pem',
  intermediateKey: 'intermediate.key.sealed',
} as const;

const manifestSchema = z.object({
  version: z.literal(1),
  trustDomain: z.string(),
  algorithm: z.enum([KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048]),
  createdAt: z.string(),
  /** Bumped whenever the bundle's roots change (rotation arrives with a later issue). */
  bundleSequence: z.number().int().nonnegative(),
  kid: z.string(),
});
type Manifest = z.infer<typeof manifestSchema>;

const sealedSchema = z.object({
  v: z.literal(1),
  alg: z.literal('A256GCM'),
  kid: z.string(),
  iv: z.string(),
  tag: z.string(),
  ct: z.string(),
});

export type TrustDomainState = {
  readonly trustDomain: string;
  readonly algorithm: KeyAlgorithmType;
  readonly root: Issuer;
  readonly intermediate: Issuer;
  readonly rootPem: string;
  readonly intermediatePem: string;
  readonly bundleSequence: number;
  /** True when this start created the trust domain. */
  readonly created: boolean;
};

export type StateOptions = {
  dir: string;
  kms: Kms;
  trustDomain: string;
  algorithm: KeyAlgorithmType;
  rootTtlDays: number;
  intermediateTtlDays: number;
  nameConstraints: boolean;
};

/** The AAD of each sealed key: a root key file swapped in for the intermediate's does not open. */
export const sealContext = (trustDomain: string, which: 'root' | 'intermediate'): string =>
  `warden-ca/${trustDomain}/${which}-key`;

function writeFileAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function readText(dir: string, file: string): string {
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch (cause) {
    throw new CaStateError(`${join(dir, file)} is missing or unreadable`, { cause });
  }
}

async function openKey(
  options: StateOptions,
  manifest: Manifest,
  which: 'root' | 'intermediate',
): Promise<Buffer> {
  const file = which === 'root' ? Files.rootKey : Files.intermediateKey;
  let box: SealedBox;
  try {
    box = sealedSchema.parse(JSON.parse(readText(options.dir, file)));
  } catch (cause) {
    if (cause instanceof CaStateError) throw cause;
    throw new CaStateError(`${file} is not a sealed key file`, { cause });
  }
  return options.kms.open(box, sealContext(manifest.trustDomain, which));
}
type CryptoKeyLike = Awaited<ReturnType<typeof importPrivateKey>>;

/** Loads the trust domain from `dir`, or creates it on first start. */
export async function loadOrCreateTrustDomain(options: StateOptions): Promise<TrustDomainState> {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  if (!existsSync(join(options.dir, Files.manifest))) return create(options);
  let manifest: Manifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(readText(options.dir, Files.manifest)));
  } catch (cause) {
    throw new CaStateError(`${join(options.dir, Files.manifest)} is not a CA manifest`, { cause });
  }
  if (manifest.trustDomain !== options.trustDomain)
    throw new CaStateError(
      `${options.dir} holds trust domain ${manifest.trustDomain}, but WARDEN_TRUST_DOMAIN is ${options.trustDomain}`,
    );
  const rootPem = readText(options.dir, Files.rootCert);
  const intermediatePem = readText(options.dir, Files.intermediateCert);
  const keys = {
    root: await openKey(options, manifest, 'root'),
    intermediate: await openKey(options, manifest, 'intermediate'),
  };
  checkConsistent(manifest.trustDomain, rootPem, intermediatePem, keys);
  const root: Issuer = {
    certificate: loadCertificate(rootPem),
    privateKey: await importPrivateKey(keys.root, manifest.algorithm),
  };
  const intermediate: Issuer = {
    certificate: loadCertificate(intermediatePem),
    privateKey: await importPrivateKey(keys.intermediate, manifest.algorithm),
  };
  return {
    trustDomain: manifest.trustDomain,
    algorithm: manifest.algorithm,
    root,
    intermediate,
    rootPem,
    intermediatePem,
    bundleSequence: manifest.bundleSequence,
    created: false,
  };
}

/** Refuses to serve from files that do not belong together (a key for another cert, a foreign chain). */
function checkConsistent(
  trustDomain: string,
  rootPem: string,
  intermediatePem: string,
  keys: Record<'root' | 'intermediate', Buffer>,
): void {
  const root = new X509Certificate(rootPem);
  const intermediate = new X509Certificate(intermediatePem);
  for (const [which, cert] of [
    ['root', root],
    ['intermediate', intermediate],
  ] as const) {
    const fromKey = createPublicKey(createPrivateKey({ key: keys[which], format: 'der', type: 'pkcs8' }));
    if (
      !fromKey
        .export({ type: 'spki', format: 'der' })
        .equals(cert.publicKey.export({ type: 'spki', format: 'der' }))
    )
      throw new CaStateError(`the ${which} key does not match the ${which} certificate`);
  }
  if (!intermediate.checkIssued(root) || !intermediate.verify(root.publicKey))
    throw new CaStateError(`the intermediate does not chain to the root of ${trustDomain}`);
}

async function create(options: StateOptions): Promise<TrustDomainState> {
  const now = Date.now();
  const rootKeys = await generateKeyPair(options.algorithm);
  const rootCert = await createRootCertificate({
    trustDomain: options.trustDomain,
    keys: rootKeys,
    notAfter: new Date(now + options.rootTtlDays * 86_400_000),
    nameConstraints: options.nameConstraints,
  });
  const root: Issuer = { certificate: rootCert, privateKey: rootKeys.privateKey };
  const interKeys = await generateKeyPair(options.algorithm);
  const interCert = await createIntermediateCertificate({
    trustDomain: options.trustDomain,
    keys: interKeys,
    issuer: root,
    notAfter: new Date(now + options.intermediateTtlDays * 86_400_000),
    nameConstraints: options.nameConstraints,
  });
  const intermediate: Issuer = { certificate: interCert, privateKey: interKeys.privateKey };
  const rootPem = certificatePem(rootCert);
  const intermediatePem = certificatePem(interCert);
  const seal = async (key: CryptoKeyLike, which: 'root' | 'intermediate'): Promise<string> =>
    JSON.stringify(
      await options.kms.seal(await exportPrivateKeyDer(key), sealContext(options.trustDomain, which)),
    );

  const dir = options.dir;
  writeFileAtomic(join(dir, Files.rootKey), await seal(rootKeys.privateKey, 'root'));
  writeFileAtomic(join(dir, Files.intermediateKey), await seal(interKeys.privateKey, 'intermediate'));
  writeFileAtomic(join(dir, Files.rootCert), rootPem);
  writeFileAtomic(join(dir, Files.intermediateCert), intermediatePem);
  const manifest: Manifest = {
    version: 1,
    trustDomain: options.trustDomain,
    algorithm: options.algorithm,
    createdAt: new Date(now).toISOString(),
    bundleSequence: 1,
    kid: options.kms.keyId,
  };
  writeFileAtomic(join(dir, Files.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
  return {
    trustDomain: options.trustDomain,
    algorithm: options.algorithm,
    root,
    intermediate,
    rootPem,
    intermediatePem,
    bundleSequence: manifest.bundleSequence,
    created: true,
  };
}
