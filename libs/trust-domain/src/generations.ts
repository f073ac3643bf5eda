import {
  certificatePem,
  createIntermediateCertificate,
  createRootCertificate,
  exportPrivateKeyDer,
  generateKeyPair,
} from '@warden/pki';
import type { Issuer } from '@warden/pki';
import { CaStateError } from './errors.ts';
import { ensureFolder, fileNames, writeFolderFile } from './folder.ts';
import type { Role } from './folder.ts';
import { withLock } from './lock.ts';
import type { HeldLock } from './lock.ts';
import { hasManifest, noTrustDomain, readManifest, writeManifest } from './manifest.ts';
import type { Manifest } from './manifest.ts';
import { loadMaterial } from './material.ts';
import type { StateOptions, TrustDomainMaterial } from './material.ts';
import { sealContext } from './sealing.ts';

/** Loads the trust domain from `dir`; refuses when there is none. */
export async function loadTrustDomain(options: StateOptions): Promise<TrustDomainMaterial> {
  if (!hasManifest(options.dir)) throw noTrustDomain(options.dir);
  return loadMaterial(options, readManifest(options.dir));
}

/** Loads the trust domain from `dir`, or creates it on first start. */
export async function loadOrCreateTrustDomain(options: StateOptions): Promise<TrustDomainMaterial> {
  ensureFolder(options.dir);
  if (hasManifest(options.dir)) return loadTrustDomain(options);
  return withLock(options.dir, async (lock) =>
    hasManifest(options.dir) ? loadTrustDomain(options) : create(options, lock),
  );
}

/** Creates the trust domain in `dir` (`warden ca init`); refuses if one is there already. */
export async function initTrustDomain(options: StateOptions): Promise<TrustDomainMaterial> {
  ensureFolder(options.dir);
  return withLock(options.dir, async (lock) => {
    if (hasManifest(options.dir))
      throw new CaStateError(
        `${options.dir} already holds a trust domain; \`warden ca rotate\` replaces its CAs`,
      );
    return create(options, lock);
  });
}

type PrivateKey = Issuer['privateKey'];

/**
 * Refuses to write a generation's files unless this writer still holds the lock and no manifest
 * on disk lists that generation yet: a writer that stalled past the lock's staleness and resumes
 * must not overwrite the keys of a generation another writer committed meanwhile.
 */
function claimGeneration(dir: string, lock: HeldLock, role: Role, id: number): void {
  lock.assertHeld();
  if (!hasManifest(dir)) return;
  const manifest = readManifest(dir);
  const listed = role === 'root' ? manifest.roots : manifest.intermediates;
  if (listed.some((g) => g.id === id))
    throw new CaStateError(
      `${role} ${id} was committed by another writer meanwhile; nothing was overwritten or committed`,
    );
}

async function writeGeneration(
  options: StateOptions,
  lock: HeldLock,
  role: Role,
  id: number,
  key: PrivateKey,
  pem: string,
): Promise<void> {
  claimGeneration(options.dir, lock, role, id);
  const files = fileNames(role, id);
  const box = await options.kms.seal(
    await exportPrivateKeyDer(key),
    sealContext(options.trustDomain, role, id),
  );
  await writeFolderFile(options.dir, files.key, JSON.stringify(box));
  await writeFolderFile(options.dir, files.cert, pem);
}

async function newRoot(options: StateOptions, lock: HeldLock, id: number, now: number): Promise<Issuer> {
  const keys = await generateKeyPair(options.algorithm);
  const certificate = await createRootCertificate({
    trustDomain: options.trustDomain,
    keys,
    notAfter: new Date(now + options.rootTtlDays * 86_400_000),
    nameConstraints: options.nameConstraints,
    generation: id,
  });
  await writeGeneration(options, lock, 'root', id, keys.privateKey, certificatePem(certificate));
  return { certificate, privateKey: keys.privateKey };
}

async function newIntermediate(
  options: StateOptions,
  lock: HeldLock,
  id: number,
  root: Issuer,
  now: number,
): Promise<void> {
  const keys = await generateKeyPair(options.algorithm);
  const certificate = await createIntermediateCertificate({
    trustDomain: options.trustDomain,
    keys,
    issuer: root,
    notAfter: new Date(now + options.intermediateTtlDays * 86_400_000),
    nameConstraints: options.nameConstraints,
    generation: id,
  });
  await writeGeneration(options, lock, 'intermediate', id, keys.privateKey, certificatePem(certificate));
}

/**
 * The manifest last, and only while still holding the lock and while the manifest on disk is
 * still the one this writer started from (`base`; none for a new trust domain): it is what makes
 * the files count.
 */
async function commit(
  options: StateOptions,
  lock: HeldLock,
  base: Manifest | undefined,
  manifest: Manifest,
): Promise<TrustDomainMaterial> {
  lock.assertHeld();
  const onDisk = hasManifest(options.dir) ? readManifest(options.dir) : undefined;
  if (JSON.stringify(onDisk) !== JSON.stringify(base))
    throw new CaStateError(`${options.dir} was changed by another writer meanwhile; nothing was committed`);
  await writeManifest(options.dir, manifest);
  return loadMaterial(options, manifest);
}

async function create(options: StateOptions, lock: HeldLock): Promise<TrustDomainMaterial> {
  const now = Date.now();
  const root = await newRoot(options, lock, 1, now);
  await newIntermediate(options, lock, 1, root, now);
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
  return { ...(await commit(options, lock, undefined, manifest)), created: true };
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
  if (!hasManifest(options.dir)) throw noTrustDomain(options.dir);
  return withLock(options.dir, async (lock) => {
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
      rootIssuer = await newRoot(settings, lock, rootId, now);
      next.roots = [...manifest.roots, { id: rootId, createdAt }];
      next.bundleSequence = manifest.bundleSequence + 1;
    }
    if (!rootIssuer) throw new CaStateError(`root ${rootId} is listed in the manifest but not loaded`);
    await newIntermediate(settings, lock, intermediateId, rootIssuer, now);
    next.intermediates = [
      ...manifest.intermediates,
      { id: intermediateId, root: rootId, createdAt, activateAt: settings.activateAt.toISOString() },
    ];
    return {
      intermediate: intermediateId,
      root: rootId,
      activateAt: settings.activateAt,
      material: await commit(settings, lock, manifest, next),
    };
  });
}
