import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './harness.ts';

/**
 * A stand-in for the Kubernetes API on 127.0.0.1 that the real @kubernetes/client-node talks
 * HTTP to through an ordinary kubeconfig; subclasses answer the requests.
 */
export abstract class FakeKubeApiServer {
  #server: Server | undefined;

  /** Listens on a free loopback port; returns the path of a kubeconfig that points at it. */
  async start(): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const kubeconfig = join(tempDir('kube'), 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        // Plain HTTP on loopback: the client allows it only with TLS verification off.
        `clusters: [{ name: fake, cluster: { server: "${url}", insecure-skip-tls-verify: true } }]`,
        'users: [{ name: fake, user: { token: recorded } }]',
        'contexts: [{ name: fake, context: { cluster: fake, user: fake } }]',
        'current-context: fake',
      ].join('\n'),
    );
    return kubeconfig;
  }

  /**
   * Closes every connection, open watches and held requests included. The kubeconfig stays,
   * pointing at a closed port.
   */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
}
