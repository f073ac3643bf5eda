import type { KubeConfig } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';
import { Backoff, messageOf } from '@warden/core';
import type { TopologyMetrics } from '../metrics.ts';
import type { Log } from '../registry/source.ts';
import { resourceVersionOf } from './convert.ts';

export type ListPage = { items: unknown[]; metadata?: { resourceVersion?: string; _continue?: string } };

export type ResourceWatchOptions = {
  kc: KubeConfig;
  /** Short name for logs and metrics: pods, services, ... */
  resource: string;
  /** The collection's API path, for the watch: /api/v1/pods, /apis/discovery.k8s.io/v1/endpointslices. */
  path: string;
  /** One page of the collection. */
  list(continueToken: string | undefined): Promise<ListPage>;
  /** A complete, consistent list: the whole collection replaces what was known. */
  onList(items: unknown[]): void;
  onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: unknown): void;
  log: Log;
  metrics: TopologyMetrics;
  /** Backoff after a failure (jittered): starts here, doubles, capped at maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** The watch ends after this long with no data and is resumed (the client's inactivity timeout). */
  timeoutSeconds?: number;
};

const statusCode = (err: unknown): number | undefined => {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  return typeof e.code === 'number' ? e.code : undefined;
};

/**
 * List-then-watch of one collection, for as long as it runs. After a disconnect the watch
 * resumes from the last resource version it saw (events or bookmarks), so nothing is missed and
 * nothing is listed again; when the server says that version is gone (410, the history was
 * compacted) it lists the whole collection again. Failures back off exponentially.
 */
export class ResourceWatch {
  private readonly options: ResourceWatchOptions;
  private readonly watch: Watch;
  private resourceVersion = '';
  private stopped = false;
  private controller: AbortController | undefined;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: ResourceWatchOptions) {
    this.options = options;
    this.watch = new Watch(options.kc);
    this.backoff = new Backoff({
      initialMs: options.minBackoffMs ?? 200,
      maxMs: options.maxBackoffMs ?? 15_000,
    });
  }

  /** Lists once (rejecting if that fails), then keeps watching in the background. */
  async start(): Promise<void> {
    await this.relist();
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.controller?.abort();
  }

  /** The resource version a resumed watch would start from (empty: the next connect relists). */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  private async relist(): Promise<void> {
    const items: unknown[] = [];
    let token: string | undefined;
    let version = '';
    do {
      let page: ListPage;
      try {
        page = await this.options.list(token);
      } catch (err) {
        // An expired continue token: the consistent snapshot is gone, start the list over.
        if (statusCode(err) === 410 && token) {
          items.length = 0;
          token = undefined;
          continue;
        }
        throw err;
      }
      items.push(...(Array.isArray(page.items) ? page.items : []));
      version = page.metadata?.resourceVersion ?? version;
      token = page.metadata?._continue || undefined;
    } while (token);
    this.options.onList(items);
    this.resourceVersion = version;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const { resource, metrics } = this.options;
    try {
      if (!this.resourceVersion) {
        metrics.watchRestarts.inc({ resource, mode: 'relist' });
        await this.relist();
      }
      this.controller = await this.watch.watch(
        this.options.path,
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: this.options.timeoutSeconds ?? 300,
        },
        (type, object) => this.onWatchEvent(type, object),
        (err) => this.onDone(err),
      );
    } catch (err) {
      this.onDone(err);
    }
  }

  private onWatchEvent(type: string, object: unknown): void {
    const { log, metrics, resource } = this.options;
    if (type === 'ERROR') {
      const code = statusCode(object);
      if (code === 410) {
        // Too old a version: the next connect relists.
        log.info({ resource, resourceVersion: this.resourceVersion }, 'kubernetes watch expired; relisting');
        this.resourceVersion = '';
      } else {
        log.warn({ resource, status: object }, 'kubernetes watch error event');
      }
      this.controller?.abort();
      return;
    }
    const version = resourceVersionOf(object);
    if (type === 'BOOKMARK') {
      if (version) this.resourceVersion = version;
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') {
      metrics.rejected.inc({ source: 'kubernetes', reason: 'unknown_watch_event' });
      log.warn({ resource, type }, 'unknown kubernetes watch event type; ignored');
      return;
    }
    this.backoff.reset();
    try {
      this.options.onEvent(type, object);
    } catch (err) {
      // A bug in handling one object must not end the watch; it is logged and counted.
      metrics.rejected.inc({ source: 'kubernetes', reason: 'handler_failed' });
      log.error({ err, resource, type }, 'failed to apply a kubernetes watch event');
    }
    if (version) this.resourceVersion = version;
  }

  private onDone(failure: unknown): void {
    if (this.stopped) return;
    const { resource, log, metrics } = this.options;
    // The client ends a watch that was quiet for 30 s; on a quiet collection that is routine,
    // not a failure: resume at once, without a warning.
    const err = failure instanceof Error && failure.name === 'TimeoutError' ? null : failure;
    if (statusCode(err) === 410) this.resourceVersion = '';
    // A clean end (the server's timeout) resumes at once, but never in a tight loop.
    const delay = err ? this.backoff.next() : 50;
    if (err)
      log.warn({ resource, err: messageOf(err), retryMs: delay }, 'kubernetes watch ended; reconnecting');
    if (this.resourceVersion) metrics.watchRestarts.inc({ resource, mode: 'resume' });
    this.timer = setTimeout(() => void this.connect(), delay);
    this.timer.unref();
  }
}
