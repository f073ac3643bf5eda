import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { Objm } from '@nats-io/obj';
import type { ObjectStore } from '@nats-io/obj';
import { WardenError } from '@warden/core';
import { BucketName, OBJECT_CHUNK_BYTES, ObjectReader, ObjectStoreName } from '@warden/events';
import { parsePolicyBundle } from '@warden/policy-engine';
import type { PolicyBundle } from '@warden/policy-engine';
import type { Manifest } from './layout.ts';
import { canonicalJson, kvKey, manifest as manifestSchema, objectName, sha256 } from './layout.ts';

export class PolicyStoreError extends WardenError {}

/** Another writer moved `revision.latest` first; the caller re-reads and tries again. */
export class RevisionConflictError extends PolicyStoreError {
  constructor(expected: number, options?: ErrorOptions) {
    super('revision_conflict', `revision.latest moved past ${expected}`, options);
  }
}

/** Map as a bounded cache: the oldest entry goes when it is full. */
function remember<K, V>(cache: Map<K, V>, key: K, value: V, limit: number): void {
  if (cache.size >= limit) cache.delete(cache.keys().next().value as K);
  cache.set(key, value);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads (and, for the policy service, writes) revisions in the KV bucket and object store. */
export class PolicyStore {
  readonly kv: KV;
  readonly objects: ObjectStore;
  // Manifests and content are immutable once stored (named by revision or digest), so what this
  // process has read or written once need not cost an object-store round trip again.
  private readonly manifests = new Map<number, Manifest>();
  private readonly stored = new Set<string>();
  private readonly bundles = new Map<string, PolicyBundle>();

  private readonly reader: ObjectReader;

  private constructor(kv: KV, objects: ObjectStore, reader: ObjectReader) {
    this.kv = kv;
    this.objects = objects;
    this.reader = reader;
  }

  /** Opens the bucket and object store, which the policy service provisions. */
  static async open(nc: NatsConnection): Promise<PolicyStore> {
    const kv = await new Kvm(nc).open(BucketName.policy);
    const objects = await new Objm(nc).open(ObjectStoreName.bundles);
    return new PolicyStore(kv, objects, await ObjectReader.open(nc, objects, ObjectStoreName.bundles));
  }

  async number(key: string): Promise<number> {
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return 0;
    const n = Number(entry.string());
    return Number.isInteger(n) && n >= 0 ? n : 0;
  }

  activeRevision(): Promise<number> {
    return this.number(kvKey.active);
  }

  dryRunRevision(): Promise<number> {
    return this.number(kvKey.dryRun);
  }

  /**
   * Hands out the next revision number with compare-and-set on `revision.latest`, so two policy
   * service instances can never commit the same number. A number handed out whose manifest was
   * never stored (its claimant crashed before committing) is handed out again, so the numbers
   * stay contiguous: the policy service takes submissions one at a time in the whole deployment,
   * so nobody else can still be committing it.
   */
  async nextRevision(): Promise<number> {
    const entry = await this.kv.get(kvKey.latest);
    const current = entry && entry.operation === 'PUT' && entry.length > 0 ? Number(entry.string()) : 0;
    if (current > 0 && !(await this.getManifest(current))) return current;
    const next = current + 1;
    try {
      if (!entry) await this.kv.create(kvKey.latest, String(next));
      else await this.kv.update(kvKey.latest, String(next), entry.revision);
    } catch (cause) {
      throw new RevisionConflictError(current, { cause });
    }
    return next;
  }

  /** Stores content under its digest (once) and returns the digest. */
  async putContent(kind: 'bundle' | 'source', bytes: Uint8Array): Promise<string> {
    const digest = sha256(bytes);
    const name = kind === 'bundle' ? objectName.bundle(digest) : objectName.source(digest);
    if (this.stored.has(name)) return digest;
    if (!(await this.objects.info(name)))
      await this.objects.putBlob({ name, options: { max_chunk_size: OBJECT_CHUNK_BYTES } }, bytes);
    if (this.stored.size >= 100_000) this.stored.clear();
    this.stored.add(name);
    return digest;
  }

  async putBundle(content: PolicyBundle): Promise<string> {
    return this.putContent('bundle', encoder.encode(canonicalJson(content)));
  }

  /**
   * Loads a bundle and checks it against its digest and its schema: a decision point never runs
   * altered or malformed policy.
   */
  async getBundle(digest: string): Promise<PolicyBundle> {
    const cached = this.bundles.get(digest);
    if (cached) return cached;
    const bytes = await this.reader.read(objectName.bundle(digest));
    if (!bytes) throw new PolicyStoreError('missing_bundle', `bundle ${digest} is not in the object store`);
    if (sha256(bytes) !== digest)
      throw new PolicyStoreError('corrupt_bundle', `bundle ${digest} does not match its digest`);
    const parsed = parsePolicyBundle(JSON.parse(decoder.decode(bytes)));
    remember(this.bundles, digest, parsed, 20_000);
    return parsed;
  }

  async getSource(digest: string): Promise<string | null> {
    const bytes = await this.reader.read(objectName.source(digest));
    return bytes ? decoder.decode(bytes) : null;
  }

  /** What `putManifest` returns for a manifest: the SHA-256 of its canonical JSON. */
  manifestDigest(m: Manifest): string {
    return sha256(encoder.encode(canonicalJson(m)));
  }

  async putManifest(m: Manifest): Promise<string> {
    const bytes = encoder.encode(canonicalJson(m));
    await this.objects.putBlob(
      { name: objectName.manifest(m.revision), options: { max_chunk_size: OBJECT_CHUNK_BYTES } },
      bytes,
    );
    remember(this.manifests, m.revision, m, 64);
    return sha256(bytes);
  }

  async getManifest(revision: number): Promise<Manifest | null> {
    if (revision <= 0) return null;
    const cached = this.manifests.get(revision);
    if (cached) return cached;
    const bytes = await this.reader.read(objectName.manifest(revision));
    if (!bytes) return null;
    const parsed = manifestSchema.parse(JSON.parse(decoder.decode(bytes)));
    remember(this.manifests, revision, parsed, 64);
    return parsed;
  }

  /** Every stored revision's manifest, newest first. */
  async history(): Promise<Manifest[]> {
    const infos = await this.objects.list();
    const revisions = infos
      .map((i) => objectName.manifestRevision(i.name))
      .filter((r): r is number => r !== undefined)
      .sort((a, b) => b - a);
    const manifests: Manifest[] = [];
    for (const r of revisions) {
      const m = await this.getManifest(r);
      if (m) manifests.push(m);
    }
    return manifests;
  }

  /** Makes a stored revision current (or the dry-run one); decision points watch this key. */
  async activate(m: Manifest, changedKeys: readonly string[]): Promise<void> {
    if (!m.dryRun) {
      for (const key of changedKeys) await this.kv.put(key, String(m.revision));
    }
    await this.kv.put(m.dryRun ? kvKey.dryRun : kvKey.active, String(m.revision));
  }
}
