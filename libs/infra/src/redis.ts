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
  /** Starts as a replica of the primary on this loopback port (as `admin`, with `passwords`). */
  replicaOf?: number;
  /** A name for logs and the supervisor (`redis-server` unless given). */
  name?: string;
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
    // Every data node of a replicated set may become a replica (Sentinel turns a returning old
    // primary into one), so each knows how to log in to a primary. In a file, not on the
    // command line, where any local user could read the password.
    const confFile = join(options.dir, 'replication.conf');
    writeFileSync(confFile, `masteruser ${admin.username}\nmasterauth ${admin.password}\n`, { mode: 0o600 });
    aclArgs.unshift(confFile);
  }
  if (options.replicaOf !== undefined) aclArgs.push('--replicaof', '127.0.0.1', String(options.replicaOf));
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
    name: options.name ?? 'redis-server',
    command: binary('redis-server'),
    args,
    logFile: join(options.dir, `${options.name ?? 'redis-server'}.log`),
    ready: () => redisPing(port, admin),
  });
  return { ...server, url: `redis://127.0.0.1:${port}`, port, ...(admin ? { admin } : {}) };
}

/** One RESP command as it goes on the wire. */
const respCommand = (args: readonly string[]): string =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/**
 * Sends one RESP command on a fresh connection (after AUTH, given credentials) and resolves with
 * the first line of its reply, or of AUTH's when AUTH is refused. Rejects on a socket error or
 * after `timeoutMs`.
 */
export function redisCommand(
  port: number,
  args: readonly string[],
  auth?: RedisAuth,
  timeoutMs = 5000,
): Promise<string> {
  const wire = `${auth ? respCommand(['AUTH', auth.username, auth.password]) : ''}${respCommand(args)}`;
  return new Promise((resolveReply, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error('redis command timed out'));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(wire));
    let replies = '';
    socket.on('data', (chunk) => {
      replies += chunk.toString();
      const lines = replies.split('\r\n');
      // With AUTH first, its reply (+OK or an error) is the first line; the command's follows.
      if (auth && lines.length > 1 && lines[0] !== '+OK') {
        socket.destroy();
        resolveReply(lines[0] ?? '');
        return;
      }
      const line = auth ? 1 : 0;
      if (lines.length <= line + 1) return;
      socket.destroy();
      resolveReply(lines[line] ?? '');
    });
  });
}

/** Sends PING (after AUTH, given credentials) and expects PONG. */
export async function redisPing(port: number, auth?: RedisAuth): Promise<boolean> {
  try {
    return (await redisCommand(port, ['PING'], auth, 1000)) === '+PONG';
  } catch {
    return false;
  }
}
