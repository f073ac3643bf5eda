import type { AddressInfo, Socket } from 'node:net';
import { connect, createServer } from 'node:net';

/**
 * A TCP proxy in front of Redis that runs something in the gap between two round trips of its
 * client, deterministically: once armed, just before forwarding the first request that follows a
 * reply. A client that checks and then writes in separate round trips gets it between the two,
 * as a Redis flush or restart could land there in production.
 */
export class GapProxy {
  private readonly server = createServer((client) => this.pipe(client));
  private readonly sockets = new Set<Socket>();
  private readonly upstreamPort: number;
  private between: (() => Promise<void>) | undefined;
  private replied = false;
  private ran = false;

  private constructor(upstreamPort: number) {
    this.upstreamPort = upstreamPort;
  }

  static async start(upstreamPort: number): Promise<GapProxy> {
    const proxy = new GapProxy(upstreamPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Runs `between` once, before the next request that follows a reply. */
  arm(between: () => Promise<void>): void {
    this.between = between;
    this.replied = false;
    this.ran = false;
  }

  /** Whether `between` ran since `arm`; it will not run after this. */
  disarm(): boolean {
    this.between = undefined;
    return this.ran;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    upstream.on('data', (chunk: Buffer) => {
      this.replied = true;
      client.write(chunk);
    });
    client.on('data', (chunk: Buffer) => {
      const between = this.replied ? this.between : undefined;
      if (!between) return void upstream.write(chunk);
      this.between = undefined;
      // Held back, and everything after it, until `between` is done.
      client.pause();
      void between().finally(() => {
        this.ran = true;
        upstream.write(chunk);
        client.resume();
      });
    });
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('close', () => to.destroy());
      from.on('error', () => to.destroy());
    }
  }
}
