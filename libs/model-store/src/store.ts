import type { NatsConnection } from '@nats-io/nats-core';
import { Objm } from '@nats-io/obj';
import type { ObjectStore } from '@nats-io/obj';
import { messageOf } from '@warden/core';
import { ObjectStoreName } from '@warden/events';
import type { ModelApproval, ModelMeta, ModelVersion } from './layout.ts';
import { APPROVAL_KEY, META_KEY, ModelStoreError, newestApproved, objectName, versionOf } from './layout.ts';

/** Attempts at a free version number when two trainers store at once. */
const PUT_ATTEMPTS = 5;

/**
 * The object store `warden-models` (owned and provisioned by the detector): versions stored by
 * `warden detect train`, approved by `warden detect models promote`, followed by the detector.
 */
export class ModelStore {
  readonly #objects: ObjectStore;

  private constructor(objects: ObjectStore) {
    this.#objects = objects;
  }

  static async open(nc: NatsConnection): Promise<ModelStore> {
    try {
      return new ModelStore(await new Objm(nc).open(ObjectStoreName.models));
    } catch (cause) {
      throw new ModelStoreError(
        'model_store_unavailable',
        `cannot open the object store ${ObjectStoreName.models} (the detector provisions it): ${messageOf(cause)}`,
        { cause },
      );
    }
  }

  /** Every version, oldest first, and the objects that are not versions (with why). */
  async list(): Promise<{ versions: ModelVersion[]; invalid: string[] }> {
    const versions: ModelVersion[] = [];
    const invalid: string[] = [];
    for (const info of await this.#objects.list()) {
      if (info.deleted) continue;
      const v = versionOf(info);
      if ('invalid' in v) invalid.push(v.invalid);
      else versions.push(v);
    }
    versions.sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
    return { versions, invalid };
  }

  async version(name: string, version: number): Promise<ModelVersion> {
    const info = await this.#objects.info(objectName(name, version));
    if (!info || info.deleted)
      throw new ModelStoreError('model_not_found', `no ${name} model version ${version}`);
    const v = versionOf(info);
    if ('invalid' in v) throw new ModelStoreError('invalid_model_metadata', v.invalid);
    return v;
  }

  /** A version's bytes; refused unless they are exactly what was stored (the store checks the digest). */
  async bytes(version: ModelVersion): Promise<Uint8Array> {
    const bytes = await this.#objects.getBlob(version.object);
    if (!bytes) throw new ModelStoreError('model_not_found', `${version.object} has no data`);
    return bytes;
  }

  /** Stores a new version (a candidate) numbered after the highest so far; returns it. */
  async put(meta: Omit<ModelMeta, 'version'>, bytes: Uint8Array): Promise<ModelVersion> {
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      const { versions } = await this.list();
      const next = Math.max(0, ...versions.filter((v) => v.name === meta.name).map((v) => v.version)) + 1;
      const name = objectName(meta.name, next);
      // Another trainer may have taken the number meanwhile: the next attempt reads again.
      if (await this.#objects.info(name)) continue;
      const full: ModelMeta = { ...meta, version: next };
      await this.#objects.putBlob(
        {
          name,
          description: `${meta.name} model v${next}, trained ${meta.trainedFrom} to ${meta.trainedUntil}`,
          metadata: { [META_KEY]: JSON.stringify(full) },
        },
        bytes,
      );
      return this.version(meta.name, next);
    }
    throw new ModelStoreError(
      'model_version_conflict',
      `no free version number after ${PUT_ATTEMPTS} attempts`,
    );
  }

  /** Approves a version: from now on it is the detector's if no higher version is approved. */
  async promote(name: string, version: number, approval: ModelApproval): Promise<ModelVersion> {
    const current = await this.version(name, version);
    const info = await this.#objects.info(current.object);
    await this.#objects.update(current.object, {
      metadata: { ...(info?.metadata ?? {}), [APPROVAL_KEY]: JSON.stringify(approval) },
    });
    return this.version(name, version);
  }

  async newestApproved(name: string): Promise<ModelVersion | undefined> {
    return newestApproved((await this.list()).versions, name);
  }

  /**
   * Calls `onChange` after every change to the store (a version stored or approved) until
   * `signal` aborts; the caller reads the store again to see what changed.
   */
  async watch(onChange: () => void, signal: AbortSignal): Promise<void> {
    const updates = await this.#objects.watch({ includeHistory: false, ignoreDeletes: true });
    const stop = (): void => updates.stop();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const update of updates) {
        if (signal.aborted) break;
        if (update.name) onChange();
      }
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }
}
