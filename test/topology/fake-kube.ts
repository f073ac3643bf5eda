import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type List = { kind: string; apiVersion: string; resourceVersion: string; items: unknown[] };

/**
 * A stand-in for the Kubernetes API on 127.0.0.1 that serves recorded list responses and watch
 * streams (newline-delimited JSON events, as the real API server sends them), so the real
 * @kubernetes/client-node talks HTTP to it through an ordinary kubeconfig.
 */
export class FakeKubeApi {
  readonly requests: { path: string; query: URLSearchParams }[] = [];
  private readonly lists = new Map<string, List>();
  private readonly watchers = new Map<string, Set<ServerResponse>>();
  /** Collections whose next watch answers "410 Gone" (the version was compacted away). */
  private readonly gone = new Set<string>();
  private server: Server | undefined;

  setList(path: string, list: List): void {
    this.lists.set(path, list);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  kubeconfig(server: string): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      // Plain HTTP on loopback: the client allows it only with TLS verification off.
      `clusters: [{ name: fake, cluster: { server: "${server}", insecure-skip-tls-verify: true } }]`,
      'users: [{ name: fake, user: { token: recorded } }]',
      'contexts: [{ name: fake, context: { cluster: fake, user: fake } }]',
      'current-context: fake',
    ].join('\n');
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

  async stop(): Promise<void> {
    for (const set of this.watchers.values()) for (const res of set) res.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
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
