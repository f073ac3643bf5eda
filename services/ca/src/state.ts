import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import {
  chownSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
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
 *   root.pem, intermediate.pem         generation 1's certificates (public)
 *   root.key.sealed, intermediate.key.sealed   their PKCS#8 keys sealed by the Kms (never in clear)
 *   root-<n>.pem, intermediate-<n>.pem, *-<n>.key.sealed   generation n ≥ 2, made by a rotation
 *
 * Every file is written to a temporary name, fsynced and renamed, mode 0600, in a 0700 folder.
 * A first start interrupted before the manifest leaves no trust domain, and the next start
 * creates one afresh (nothing was published or issued under the half-made one). A rotation
 * interrupted before the manifest leaves unreferenced files that the next rotation overwrites.
 *
 * Only `init`, `rotate` and a first start write here, one at a time (ca.lock); a running CA
 * only reads and notices a new manifest (see trust-domain.ts).
 */
export const Files = {
  manifest: 'ca.json',
  lock: 'ca.lock',
  rootCert: 'root.pem',
  rootKey: 'root.key.sealed',
  intermediateCert: 'intermediate.pem',
  intermediateKey: 'intermediate.key.sealed',
} as const;

type Role = 'root' | 'intermediate';

const fileNames = (role: Role, id: number): { cert: string; key: string } =>
  id === 1
    ? role === 'root'
      ? { cert: Files.rootCert, key: Files.rootKey }
      : { cert: Files.intermediateCert, key: Files.intermediateKey }
    : { cert: `${role}-${id}.pem`, key: `${role}-${id}.key.sealed` };

const algorithm = z.enum([KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048]);
const isoTime = z.iso.datetime({ offset: true });
const manifestV1 = z.object({
  version: z.literal(1),
  trustDomain: z.string(),
  algorithm,
  createdAt: isoTime,
  bundleSequence: z.number().int().nonnegative(),
  kid: z.string(),
});
const manifestV2 = manifestV1.extend({
  version: z.literal(2),
  roots: z.array(z.object({ id: z.number().int().positive(), createdAt: isoTime })).min(1),
  intermediates: z
    .array(
      z.object({
        id: z.number().int().positive(),
        root: z.number().int().positive(),
        createdAt: isoTime,
        /** Issuing moves to this intermediate at this time (a rotation may schedule it ahead). */
        activateAt: isoTime,
      }),
    )
    .min(1),
});
type Manifest = z.infer<typeof manifestV2>;

/** Version 1 (one generation, before rotation existed) reads as version 2 with generation 1. */
function upgrade(manifest: z.infer<typeof manifestV1> | Manifest): Manifest {
  if (manifest.version === 2) return manifest;
  return {
    ...manifest,
    version: 2,
    roots: [{ id: 1, createdAt: manifest.createdAt }],
    intermediates: [{ id: 1, root: 1, createdAt: manifest.createdAt, activateAt: manifest.createdAt }],
  };
}

const sealedSchema = z.object({
  v: z.literal(1),
  alg: z.literal('A256GCM'),
  kid: z.string(),
  iv: z.string(),
  tag: z.string(),
  ct: z.string(),
});

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

export type TrustDomainMaterial = {
  readonly trustDomain: string;
  readonly algorithm: KeyAlgorithmType;
  /** Counts the roots ever added; the bundle's sequence adds the roots dropped since. */
  readonly bundleSequence: number;
  readonly roots: readonly RootGeneration[];
  readonly intermediates: readonly IntermediateGeneration[];
  /** True when this call created the trust domain. */
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

/**
 * The AAD of each sealed key: a root key file swapped in for an intermediate's, or one
 * generation's for another's, does not open.
 */
export const sealContext = (trustDomain: string, which: Role, generation = 1): string =>
  generation === 1
    ? `warden-ca/${trustDomain}/${which}-key`
    : `warden-ca/${trustDomain}/${which}-key/${generation}`;

/**
 * Temporary name, fsync, rename, then fsync of the folder so the rename itself survives a crash
 * (a manifest naming a file the crash lost would keep the CA from starting). Run as root (an
 * operator's `sudo warden ca rotate`), files are given to the folder's owner: root-owned 0600
 * keys would be unreadable by the CA, which would keep serving the old generation.
 */
function writeFileAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const folder = dirname(path);
  const owner = statSync(folder);
  if (process.getuid?.() === 0 && owner.uid !== 0) chownSync(tmp, owner.uid, owner.gid);
  renameSync(tmp, path);
  const dirFd = openSync(folder, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

function readText(dir: string, file: string): string {
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch (cause) {
    throw new CaStateError(`${join(dir, file)} is missing or unreadable`, { cause });
  }
}

/** Identifies the manifest's current version on disk; a running CA polls it to notice a rotation. */
export function manifestStamp(dir: string): string {
  try {
    const s = statSync(join(dir, Files.manifest));
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

function readManifest(dir: string): Manifest {
  try {
    return upgrade(z.union([manifestV1, manifestV2]).parse(JSON.parse(readText(dir, Files.manifest))));
  } catch (cause) {
    if (cause instanceof CaStateError) throw cause;
    throw new CaStateError(`${join(dir, Files.manifest)} is not a CA manifest`, { cause });
  }
}

function writeManifest(dir: string, manifest: Manifest): void {
  writeFileAtomic(join(dir, Files.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
}

async function openKey(options: StateOptions, trustDomain: string, role: Role, id: number): Promise<Buffer> {
  const file = fileNames(role, id).key;
  let box: SealedBox;
  try {
    box = sealedSchema.parse(JSON.parse(readText(options.dir, file)));
  } catch (cause) {
    if (cause instanceof CaStateError) throw cause;
    throw new CaStateError(`${file} is not a sealed key file`, { cause });
  }
  return options.kms.open(box, sealContext(trustDomain, role, id));
}

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
  const pem = readText(options.dir, fileNames(role, id).cert);
  const der = await openKey(options, manifest.trustDomain, role, id);
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

async function loadMaterial(options: StateOptions, manifest: Manifest): Promise<TrustDomainMaterial> {
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

/**
 * One writer at a time: `warden ca init|rotate` and a CA's first start take ca.lock. The lock is
 * created with its content in one step (a hard link to a finished file), so nobody ever reads a
 * half-written one; it holds the writer's pid and a random token, and is removed only by the
 * holder of that token. A lock whose pid is gone is taken over, and only if it is still the same
 * lock when moved aside. A lock that cannot be read counts as held.
 */
async function withLock<T>(dir: string, write: () => Promise<T>): Promise<T> {
  const path = join(dir, Files.lock);
  const token = `${process.pid} ${randomBytes(16).toString('hex')}\n`;
  const mine = join(dir, `${Files.lock}.${randomBytes(8).toString('hex')}`);
  writeFileSync(mine, token, { mode: 0o600 });
  try {
    if (!tryLink(mine, path)) {
      takeOverIfStale(dir, path);
      if (!tryLink(mine, path)) throw busy(dir, path, readLock(path));
    }
  } finally {
    unlinkSync(mine);
  }
  try {
    return await write();
  } finally {
    if (readLock(path) === token) unlinkQuietly(path);
  }
}

function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function readLock(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

const holderPid = (content: string | undefined): number => Number.parseInt(content ?? '', 10);

function busy(dir: string, path: string, content: string | undefined): CaStateError {
  const pid = holderPid(content);
  return new CaStateError(
    `${dir} is being changed by ${Number.isInteger(pid) ? `process ${pid}` : 'another process'} (${path}); try again when it is done`,
  );
}

function takeOverIfStale(dir: string, path: string): void {
  const content = readLock(path);
  if (content === undefined) return;
  const pid = holderPid(content);
  if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) throw busy(dir, path, content);
  const aside = `${path}.stale-${randomBytes(8).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  // Another writer may have taken over and locked in between: if what was moved aside is not
  // the stale lock that was judged, it is that writer's, and goes back.
  if (readLock(aside) !== content) {
    tryLink(aside, path);
    unlinkQuietly(aside);
    throw busy(dir, path, readLock(path));
  }
  unlinkQuietly(aside);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function missing(dir: string): CaStateError {
  return new CaStateError(`${dir} holds no trust domain: run \`warden ca init\` or start the CA once`);
}

/** Loads the trust domain from `dir`; refuses when there is none. */
export async function loadTrustDomain(options: StateOptions): Promise<TrustDomainMaterial> {
  if (!existsSync(join(options.dir, Files.manifest))) throw missing(options.dir);
  return loadMaterial(options, readManifest(options.dir));
}

/** Loads the trust domain from `dir`, or creates it on first start. */
export async function loadOrCreateTrustDomain(options: StateOptions): Promise<TrustDomainMaterial> {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  if (existsSync(join(options.dir, Files.manifest))) return loadTrustDomain(options);
  return withLock(options.dir, async () =>
    existsSync(join(options.dir, Files.manifest)) ? loadTrustDomain(options) : create(options),
  );
}

/** Creates the trust domain in `dir` (`warden ca init`); refuses if one is there already. */
export async function initTrustDomain(options: StateOptions): Promise<TrustDomainMaterial> {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  return withLock(options.dir, async () => {
    if (existsSync(join(options.dir, Files.manifest)))
      throw new CaStateError(
        `${options.dir} already holds a trust domain; \`warden ca rotate\` replaces its CAs`,
      );
    return create(options);
  });
}

type CryptoKeyLike = Awaited<ReturnType<typeof importPrivateKey>>;

async function writeGeneration(
  options: StateOptions,
  role: Role,
  id: number,
  key: CryptoKeyLike,
  pem: string,
): Promise<void> {
  const files = fileNames(role, id);
  const box = await options.kms.seal(
    await exportPrivateKeyDer(key),
    sealContext(options.trustDomain, role, id),
  );
  writeFileAtomic(join(options.dir, files.key), JSON.stringify(box));
  writeFileAtomic(join(options.dir, files.cert), pem);
}

async function newRoot(
  options: StateOptions,
  id: number,
  now: number,
): Promise<{ issuer: Issuer; pem: string }> {
  const keys = await generateKeyPair(options.algorithm);
  const certificate = await createRootCertificate({
    trustDomain: options.trustDomain,
    keys,
    notAfter: new Date(now + options.rootTtlDays * 86_400_000),
    nameConstraints: options.nameConstraints,
    generation: id,
  });
  const pem = certificatePem(certificate);
  await writeGeneration(options, 'root', id, keys.privateKey, pem);
  return { issuer: { certificate, privateKey: keys.privateKey }, pem };
}

async function newIntermediate(options: StateOptions, id: number, root: Issuer, now: number): Promise<void> {
  const keys = await generateKeyPair(options.algorithm);
  const certificate = await createIntermediateCertificate({
    trustDomain: options.trustDomain,
    keys,
    issuer: root,
    notAfter: new Date(now + options.intermediateTtlDays * 86_400_000),
    nameConstraints: options.nameConstraints,
    generation: id,
  });
  await writeGeneration(options, 'intermediate', id, keys.privateKey, certificatePem(certificate));
}

async function create(options: StateOptions): Promise<TrustDomainMaterial> {
  const now = Date.now();
  const root = await newRoot(options, 1, now);
  await newIntermediate(options, 1, root.issuer, now);
  const createdAt = new Date(now).toISOString();
  const manifest: Manifest = {
    version: 2,
    trustDomain: options.trustDomain,
    algorithm: options.algorithm,
    createdAt,
    bundleSequence: 1,
    kid: options.kms.keyId,
    roots: [{ id: 1, createdAt }],
    intermediates: [{ id: 1, root: 1, createdAt, activateAt: createdAt }],
  };
  writeManifest(options.dir, manifest);
  return { ...(await loadMaterial(options, manifest)), created: true };
}

export type RotateOptions = StateOptions & {
  /** Also a new root (the bundle then carries both roots until the old chain's leaves expire). */
  newRoot: boolean;
  /** When issuing moves to the new intermediate; a new root needs time to reach every verifier. */
  activateAt: Date;
};

export type Rotation = {
  readonly intermediate: number;
  readonly root: number;
  readonly activateAt: Date;
  readonly material: TrustDomainMaterial;
};

/**
 * Adds a generation (`warden ca rotate`): a new intermediate under the newest root, or a new root
 * and an intermediate under it. Nothing is removed: old generations stay on disk, and the running
 * CA decides from the manifest when each stops issuing and leaves the bundle.
 */
export async function rotateTrustDomain(options: RotateOptions): Promise<Rotation> {
  if (!existsSync(join(options.dir, Files.manifest))) throw missing(options.dir);
  return withLock(options.dir, async () => {
    const manifest = readManifest(options.dir);
    // A rotation keeps the trust domain's algorithm, whatever the environment's default says.
    const settings: RotateOptions = { ...options, algorithm: manifest.algorithm };
    const current = await loadMaterial(settings, manifest);
    const latest = manifest.intermediates.reduce((a, b) => (b.activateAt >= a.activateAt ? b : a));
    if (Date.parse(latest.activateAt) > Date.now())
      throw new CaStateError(
        `intermediate ${latest.id} is scheduled to take over at ${latest.activateAt}; rotate again after that`,
      );
    const now = Date.now();
    const createdAt = new Date(now).toISOString();
    const intermediateId = Math.max(...manifest.intermediates.map((i) => i.id)) + 1;
    let rootId = Math.max(...manifest.roots.map((r) => r.id));
    let rootIssuer = current.roots.find((r) => r.id === rootId)?.issuer;
    const next: Manifest = { ...manifest, version: 2 };
    if (settings.newRoot) {
      rootId += 1;
      rootIssuer = (await newRoot(settings, rootId, now)).issuer;
      next.roots = [...manifest.roots, { id: rootId, createdAt }];
      next.bundleSequence = manifest.bundleSequence + 1;
    }
    if (!rootIssuer) throw new CaStateError(`root ${rootId} is listed in the manifest but not loaded`);
    await newIntermediate(settings, intermediateId, rootIssuer, now);
    next.intermediates = [
      ...manifest.intermediates,
      { id: intermediateId, root: rootId, createdAt, activateAt: settings.activateAt.toISOString() },
    ];
    writeManifest(settings.dir, next);
    return {
      intermediate: intermediateId,
      root: rootId,
      activateAt: settings.activateAt,
      material: await loadMaterial(settings, next),
    };
  });
}
