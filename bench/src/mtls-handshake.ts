import { rmSync } from 'node:fs';
import type { Benchmark, Outcome, Params } from './benchmark.ts';
import { profileNames, profiles } from './mtls-handshake-profiles.ts';
import { checkIdentities } from './mtls-handshake/client.ts';
import { outcome } from './mtls-handshake/figures.ts';
import { clientContexts, makePki, writeFiles } from './mtls-handshake/fixtures.ts';
import { opensslReference } from './mtls-handshake/reference.ts';
import { startServerProcess, startServersInProcess } from './mtls-handshake/servers.ts';
import { measureSides } from './mtls-handshake/sides.ts';

/**
 * mTLS handshake latency on loopback, with X.509-SVIDs issued by Warden's own PKI (ECDSA P-256
 * root → intermediate → leaf, the SPIFFE ID as URI SAN; each side presents leaf + intermediate and
 * trusts the root only), TLS 1.3 only.
 *
 * The server is a separate Node process (mtls-handshake-server.ts) with one mTLS server per
 * settings profile (mtls-handshake-profiles.ts: `tuned`, Node's defaults, and each of the tuned
 * settings alone). The client is a Node `tls` client in this process with one SecureContext per
 * profile made before the clock starts (as a sidecar keeps one per SVID). One connection at a time,
 * timed from `connect()` to `'secureConnect'`, then closed and its `'close'` awaited outside the
 * timed span, so the server's post-handshake work never overlaps the next connection:
 *
 * - full: a new connection, no session; the client checks the server's SPIFFE ID on each;
 * - resumed: `session` set to a ticket minted by a full, identity-checked handshake at the start of
 *   the round; every one must report `isSessionReused()`, and the server authorises the client's
 *   SPIFFE ID (restored from the ticket) on every connection, full or resumed.
 *
 * Every side (profile × full/resumed, the plain TCP floor, and the tuned profile against a second
 * set of servers on this process's own event loop) runs in every round, in rotating order.
 *
 * References in the same run: `openssl s_time` against the same Node server (full, and resumed
 * with the GET it needs to read a TLS 1.3 ticket, next to a Node loop doing the same GET), openssl
 * on both ends (`s_time` against `s_server`), and the same Node client against `s_server`.
 *
 * The parts, in mtls-handshake/: fixtures.ts (the PKI, the client's contexts, openssl's files),
 * servers.ts (starting, reading and stopping the servers), client.ts (one connection), loops.ts
 * (timed loops into a sample), sides.ts (the sides and the rounds), openssl.ts and reference.ts
 * (s_time and s_server, and the baseline made with them), figures.ts (the printed figures).
 */

async function run(params: Params, progress: (line: string) => void): Promise<Outcome> {
  const { handshakes = 1, warmup = 0, rounds = 1, seconds = 1 } = params;
  const pki = await makePki();
  const files = writeFiles(pki);
  const contexts = clientContexts(pki);
  const cleanups: (() => Promise<void>)[] = [async () => rmSync(files.dir, { recursive: true })];
  try {
    const server = await startServerProcess(pki);
    cleanups.unshift(server.stop);
    const inProcess = await startServersInProcess(pki);
    cleanups.unshift(inProcess.stop);
    await checkIdentities(server.ports.tuned, contexts.tuned, progress);
    for (const name of profileNames) progress(`${name}: ${profiles[name].description}`);
    const setup = { placements: { process: server, inProcess }, contexts };
    const { samples, servers } = await measureSides(setup, { handshakes, warmup, rounds }, progress);
    const reference = await opensslReference(
      { server, files, contexts, handshakes, warmup, seconds },
      progress,
    );
    return outcome(samples, servers, reference);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  }
}

export const mtlsHandshake: Benchmark = {
  name: 'mtls-handshake',
  description:
    'TLS 1.3 mTLS handshake latency (µs) on loopback with Warden SVIDs: full and resumed, vs openssl s_time / s_server',
  defaults: { handshakes: 2000, warmup: 200, rounds: 4, seconds: 2 },
  run,
};
