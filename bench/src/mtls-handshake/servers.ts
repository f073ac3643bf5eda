/**
 * Control of the mtls-handshake benchmark's servers (mtls-handshake-server.ts): one set in a forked
 * Node process driven over IPC (the headline), one set on this process's event loop, and what
 * their counters say about a stretch of the run.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerReady, ServerStart, ServerStats, ServerStatsReply } from '../mtls-handshake-profiles.ts';
import { SERVER_FLAG, startServers } from '../mtls-handshake-server.ts';
import { CLIENT_ID } from './fixtures.ts';
import type { Pki } from './fixtures.ts';

/** A set of servers (one per profile and the TCP echo), in a child process or in this one. */
export type Servers = ServerReady & { stats(): Promise<ServerStats>; stop(): Promise<void> };

/** Where a set of servers runs: its own process (the headline), or this one. */
export type Placement = 'process' | 'inProcess';
const placementNames: readonly Placement[] = ['process', 'inProcess'];

const serverStart = (pki: Pki): ServerStart => ({
  op: 'start',
  key: pki.server.keyPem,
  cert: pki.server.chainPem,
  ca: pki.rootPem,
  clientId: CLIENT_ID,
});

export async function startServerProcess(pki: Pki): Promise<Servers> {
  const child = fork(fileURLToPath(new URL('../mtls-handshake-server.ts', import.meta.url)), [SERVER_FLAG], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const next = <T>(op: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: { op?: string }): void => {
        if (message.op !== op) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message as T);
      };
      const onExit = (code: number | null): void =>
        reject(new Error(`the TLS server process exited with ${code} before answering ${op}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = next<ServerReady>('ready');
  child.send(serverStart(pki));
  try {
    return {
      ...(await ready),
      stats: async () => {
        const reply = next<ServerStatsReply>('stats');
        child.send({ op: 'stats' });
        return (await reply).stats;
      },
      stop: () => stopChild(child),
    };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

/** The same servers on this process's event loop, beside the client. */
export async function startServersInProcess(pki: Pki): Promise<Servers> {
  const servers = await startServers(serverStart(pki));
  return { ...servers.ready, stats: async () => servers.stats(), stop: servers.close };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/** What both sets of servers saw between two readings, summed over the placements. */
export type ServerTally = { identityChecked: number; identityMismatches: number; resumed: number };

/**
 * Throws unless each set authorised every TLS connection between the readings on the client's
 * SPIFFE ID and saw no client errors.
 */
export function tallyServers(
  before: Record<Placement, ServerStats>,
  after: Record<Placement, ServerStats>,
): ServerTally {
  const tally: ServerTally = { identityChecked: 0, identityMismatches: 0, resumed: 0 };
  for (const placement of placementNames) {
    const [was, now] = [before[placement], after[placement]];
    // Every TLS connection of the timed loops (and the ticket-minting ones between rounds) was
    // authorised on the client's SPIFFE ID, resumed ones from the identity the ticket carries.
    const connections = now.connections - was.connections;
    if (now.identityMismatches > 0 || now.identityChecked - was.identityChecked !== connections)
      throw new Error(`the ${placement} server failed to authorise ${now.identityMismatches} connections`);
    if (now.clientErrors > 0) throw new Error(`the ${placement} server saw client errors: ${now.lastError}`);
    tally.identityChecked += now.identityChecked - was.identityChecked;
    tally.identityMismatches += now.identityMismatches;
    tally.resumed += now.resumed - was.resumed;
  }
  return tally;
}
