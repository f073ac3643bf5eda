import { createHash } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ObjectStore } from '@nats-io/obj';
import type { ObjectStoreName } from './define.ts';
import { EventsError } from './errors.ts';
import { objectStreamName } from './streams.ts';

/**
 * Objects are written in one chunk up to this size, so that `readObject` reads them with one
 * get. Under nats-server's default 1 MiB message limit, with room for headers.
 */
export const OBJECT_CHUNK_BYTES = 512 * 1024;

/**
 * Reads an object of a JetStream object store. nats.js reads every object through a push
 * consumer that the server keeps for minutes after the read, and a stream holds a limited number
 * of consumers: a service that reads objects often (a policy replica reading manifests, an
 * enforcer reading bundles) runs out, and every read fails. An object of one chunk is read with a
 * get of its chunk subject instead, which leaves nothing behind, and checked against the digest
 * its metadata records; a larger one takes nats.js's way. Null when there is no such object.
 *
 * The get is the stream leader's (`STREAM.MSG.GET`), as nats.js reads the metadata, not a direct
 * get: on a replicated stream any replica answers a direct get, and the client's own server
 * first, so a replica still catching up after a restart answered "no such chunk" for an object
 * whose metadata the leader had (the chaos test saw policy replicas stuck on one manifest for
 * minutes).
 */
export class ObjectReader {
  readonly #objects: ObjectStore;
  readonly #jsm: JetStreamManager;
  readonly #store: ObjectStoreName;

  private constructor(objects: ObjectStore, jsm: JetStreamManager, store: ObjectStoreName) {
    this.#objects = objects;
    this.#jsm = jsm;
    this.#store = store;
  }

  static async open(nc: NatsConnection, objects: ObjectStore, store: ObjectStoreName): Promise<ObjectReader> {
    return new ObjectReader(objects, await jetstreamManager(nc), store);
  }

  async read(name: string): Promise<Uint8Array | null> {
    const info = await this.#objects.info(name);
    if (!info || info.deleted) return null;
    if (info.size === 0) return new Uint8Array();
    if (info.chunks !== 1) return this.#objects.getBlob(name);
    const chunk = await this.#jsm.streams.getMessage(objectStreamName(this.#store), {
      last_by_subj: `$O.${this.#store}.C.${info.nuid}`,
    });
    if (!chunk)
      throw new EventsError('object_missing', `${this.#store}/${name}: its chunk is not in the stream`);
    const digest = `SHA-256=${createHash('sha256').update(chunk.data).digest('base64url')}`;
    // nats.js has written the digest in base64url and, in older versions, in standard base64.
    const recorded = info.digest.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    if (digest.replace(/=+$/, '') !== recorded)
      throw new EventsError('object_corrupt', `${this.#store}/${name} does not match its digest`);
    return chunk.data;
  }
}
