import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { binary } from './paths.ts';
import { freePort } from './ports.ts';
import { startProcess } from './process.ts';
import { redisAclFile } from './redis-acl.ts';
import type { RedisUser } from './redis-acl.ts';
import type { ServerProcess } from './process.ts';

export type RedisServer = ServerProcess & {
  /** Without credentials: each client adds its own user and password. */
  readonly url: string;
  readonly port: number;
  /** The `admin` user's credentials, when the server runs with ACL users. */
  readonly admin?: RedisAuth;
};

export type RedisAuth = { username: string; password: string };

/**
 * redis-server on loopback. `persist` turns on append-only persistence in `dir` (the local
 * stack); tests run without it. With `passwords` (from `ensureRedisCredentials`) the server runs
 * with one ACL user per service and the default user off.
 */
export async function startRedis(options: {
  dir: string;
  port?: number;
  persist?: boolean;
  passwords?: ReadonlyMap<RedisUser, string>;
}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  mkdirSync(options.dir, { recursive: true });
  const aclArgs: string[] = [];
  let admin: RedisAuth | undefined;
  if (options.passwords) {
    const aclFile = join(options.dir, 'users.acl');
    writeFileSync(aclFile, redisAclFile(options.passwords), { mode: 0o600 });
    aclArgs.push('--aclfile', aclFile);
    admin = { username: 'admin', password: options.passwords.get('admin') ?? '' };
  }
  const args = [
    ...aclArgs,
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
    ready: () => redisPing(port, admin),
  });
  return { ...server, url: `redis://127.0.0.1:${port}`, port, ...(admin ? { admin } : {}) };
}

/** One RESP command as it goes on the wire. */
export const respCommand = (args: readonly string[]): string =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Sends PING over RESP (after AUTH, given credentials) and expects PONG. */
export function redisPing(port: number, auth?: RedisAuth): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    const hello = auth ? respCommand(['AUTH', auth.username, auth.password]) : '';
    socket.once('connect', () => socket.write(`${hello}${respCommand(['PING'])}`));
    let replies = '';
    socket.on('data', (chunk) => {
      replies += chunk.toString();
      const lines = replies.split('\r\n');
      if (lines.length <= (auth ? 2 : 1)) return;
      done((!auth || lines[0] === '+OK') && lines[auth ? 1 : 0] === '+PONG');
    });
  });
}
