import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { binary } from './paths.ts';
import { freePort } from './ports.ts';
import { startProcess } from './process.ts';
import type { ServerProcess } from './process.ts';

export type RedisServer = ServerProcess & { readonly url: string; readonly port: number };

/**
 * redis-server on loopback. `persist` turns on append-only persistence in `dir` (the local
 * stack); tests run without it.
 */
export async function startRedis(options: {
  dir: string;
  port?: number;
  persist?: boolean;
}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  mkdirSync(options.dir, { recursive: true });
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    options.dir,
    '--daemonize',
    'no',
    '--protected-mode',
    'yes',
    '--save',
    '',
    '--appendonly',
    options.persist ? 'yes' : 'no',
  ];
  const server = await startProcess({
    name: 'redis-server',
    command: binary('redis-server'),
    args,
    logFile: join(options.dir, 'redis-server.log'),
    ready: () => redisPing(port),
  });
  return { ...server, url: `redis://127.0.0.1:${port}`, port };
}

/** Sends PING over RESP and expects PONG. */
export function redisPing(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.once('data', (chunk) => done(chunk.toString().startsWith('+PONG')));
  });
}
