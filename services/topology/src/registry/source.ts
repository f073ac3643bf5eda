import type { EntityKind, EntityOf, Snapshot, SourceName } from './model.ts';
import type { Change, Registry } from './registry.ts';

/** The logging surface the topology modules need; a pino logger fits it. */
export type Log = {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** What a source may do to the registry: only ever its own layer. */
export type SourceSink = {
  replace(snapshot: Snapshot): Change[];
  upsert<K extends EntityKind>(kind: K, entity: EntityOf<K>): Change[];
  remove(kind: EntityKind, key: string): Change[];
};

export const sinkFor = (registry: Registry, source: SourceName): SourceSink => ({
  replace: (snapshot) => registry.replace(source, snapshot),
  upsert: (kind, entity) => registry.upsert(source, kind, entity),
  remove: (kind, key) => registry.remove(source, kind, key),
});

/**
 * One place workloads come from. `start` resolves once the source's initial view is in the
 * registry (the file loaded, the stream replayed, the first Kubernetes lists applied), so the
 * service reports ready only with a complete registry. `stop` releases everything it holds.
 */
export interface RegistrySource {
  readonly name: SourceName;
  start(): Promise<void>;
  stop(): Promise<void>;
}
