import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Below this are the well-known ports and the local stack's fixed ones. */
const FLOOR = 10_000;
/** Linux's default ephemeral range, used where /proc cannot say (and covering IANA's 49152+). */
const DEFAULT_EPHEMERAL: readonly [number, number] = [32_768, 65_535];
const ATTEMPTS = 500;

/** Where processes on this machine mark the ports they have handed out, one file per port. */
export const PORT_RESERVATIONS = join(tmpdir(), 'warden-ports');

function ephemeralRange(): readonly [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return [low, high];
  } catch {
    // Not Linux: the default below.
  }
  return DEFAULT_EPHEMERAL;
}

/**
 * Ports are taken from below the kernel's ephemeral range. A port inside it that is free now can
 * become, before the server binds it, the source port of any outgoing connection on the machine
 * (a parallel test's client, the stack's own services), and the server then exits with "address
 * already in use" on every restart while that connection lives.
 */
function candidateRange(): readonly [number, number] {
  const [low, high] = ephemeralRange();
  if (low - FLOOR >= 1_000) return [FLOOR, low - 1];
  if (65_535 - high >= 1_000) return [high + 1, 65_535];
  throw new Error(
    `no port range outside the ephemeral range ${low}-${high} (net.ipv4.ip_local_port_range); narrow it`,
  );
}

const handedOut = new Set<number>();
let releaseHookInstalled = false;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function installReleaseHook(): void {
  if (releaseHookInstalled) return;
  releaseHookInstalled = true;
  process.on('exit', () => {
    for (const port of handedOut) {
      try {
        unlinkSync(join(PORT_RESERVATIONS, String(port)));
      } catch {
        // Already reclaimed by another process, or the directory is gone: nothing to release.
      }
    }
  });
}

/**
 * Marks `port` as this process's. Test files run as parallel processes: each checks that a port
 * is free and only later starts the server on it, so two could pick the same one in between. A
 * mark whose process has died is taken over.
 */
export function reservePort(port: number): boolean {
  const file = join(PORT_RESERVATIONS, String(port));
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(file, 'wx');
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: number;
    try {
      owner = Number(readFileSync(file, 'utf8'));
    } catch {
      // Removed or still being written: look again.
      continue;
    }
    // An empty mark is one being written right now.
    if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) return false;
    try {
      unlinkSync(file);
    } catch {
      // Another process reclaimed it first; the retry decides who gets it.
    }
  }
  return false;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolveBindable) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolveBindable(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveBindable(true)));
  });
}

/**
 * A port free on 127.0.0.1 right now, outside the ephemeral range, and handed out once across
 * every process on this machine that uses this function while it lives. The caller binds it next.
 */
export async function freePort(): Promise<number> {
  installReleaseHook();
  mkdirSync(PORT_RESERVATIONS, { recursive: true });
  const [low, high] = candidateRange();
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if (!reservePort(port)) continue;
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error(
    `no free port on 127.0.0.1 in ${low}-${high} after ${ATTEMPTS} tries; ` +
      `stale marks in ${PORT_RESERVATIONS} are reclaimed when their process has gone (${readdirSync(PORT_RESERVATIONS).length} now)`,
  );
}
