import type { IncomingMessage, ServerResponse } from 'node:http';
import { FakeKubeApiServer } from '@warden/testing';

type List = { kind: string; apiVersion: string; resourceVersion: string; items: unknown[] };

/**
 * A stand-in for the Kubernetes API that serves recorded list responses and watch streams
 * (newline-delimited JSON events, as the real API server sends them).
 */
export class FakeKubeApi extends FakeKubeApiServer {
  readonly requests: { path: string; query: URLSearchParams }[] = [];
  private readonly lists = new Map<string, List>();
  private readonly watchers = new Map<string, Set<ServerResponse>>();
  /** Collections whose next watch answers "410 Gone" (the version was compacted away). */
  private readonly gone = new Set<string>();

  setList(path: string, list: List): void {
    this.lists.set(path, list);
  }

  /** Sends one watch event to every open watch of the collection. */
  push(path: string, type: string, object: unknown): void {
    for (const res of this.watchers.get(path) ?? []) res.write(`${JSON.stringify({ type, object })}\n`);
  }

  watching(path: string): number {
    return this.watchers.get(path)?.size ?? 0;
  }

  /** Closes every open watch of the collection, as a load balancer or an API server restart does. */
  disconnect(path: string): void {
    for (const res of this.watchers.get(path) ?? []) res.end();
    this.watchers.get(path)?.clear();
  }

  expireNextWatch(path: string): void {
    this.gone.add(path);
  }

  watchRequests(path: string): URLSearchParams[] {
    return this.requests
      .filter((r) => r.path === path && r.query.get('watch') === 'true')
      .map((r) => r.query);
  }

  listRequests(path: string): number {
    return this.requests.filter((r) => r.path === path && r.query.get('watch') !== 'true').length;
  }

  protected override handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push({ path: url.pathname, query: url.searchParams });
    const list = this.lists.get(url.pathname);
    if (!list) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"kind":"Status","code":404}');
      return;
    }
    if (url.searchParams.get('watch') !== 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: list.kind,
          apiVersion: list.apiVersion,
          metadata: { resourceVersion: list.resourceVersion },
          items: list.items,
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (this.gone.delete(url.pathname)) {
      const status = { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 };
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: { ...status, message: 'too old resource version' } })}\n`,
      );
      return;
    }
    let set = this.watchers.get(url.pathname);
    if (!set) this.watchers.set(url.pathname, (set = new Set()));
    set.add(res);
    res.on('close', () => set.delete(res));
  }
}
