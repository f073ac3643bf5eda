/**
 * The mtls-handshake benchmark's servers: one TLS 1.3 mTLS server per settings profile
 * (mtls-handshake-profiles.ts) and one plain TCP echo server for the floor, all on loopback.
 *
 * Run as a separate Node process (forked by mtls-handshake/servers.ts with `SERVER_FLAG`, driven
 * over IPC), as a sidecar's peer is in a deployment: that is where the headline figures come from.
 * The benchmark also starts one set in its own process, on the client's event loop, to show what
 * the placement costs (`inProcess*`). Nothing is logged: stdout belongs to the benchmark's JSON.
 */
import { createServer as createNetServer } from 'node:net';
import type { Server } from 'node:net';
import { createServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { peerSpiffeId } from '@warden/pki';
import type {
  ProfileName,
  ServerReady,
  ServerStart,
  ServerStats,
  ServerStatsReply,
} from './mtls-handshake-profiles.ts';
import { profileNames, profiles, SESSION_TIMEOUT_SECONDS } from './mtls-handshake-profiles.ts';

/** argv[2] of the forked server process. */
export const SERVER_FLAG = '--mtls-handshake-server';
/** Loopback: where every server of the benchmark (openssl s_server too) listens. */
export const HOST = '127.0.0.1';

/** What the server saw on a connection, sent back when the client writes `who` (outside the timed loops). */
export type Probe = { peer: string | null; reused: boolean; protocol: string | null };

export type Servers = { ready: ServerReady; stats(): ServerStats; close(): Promise<void> };

function onSecureConnection(socket: TLSSocket, expectedSan: string, stats: ServerStats): void {
  stats.connections++;
  if (socket.isSessionReused()) stats.resumed++;
  // Every connection, full or resumed, is authorised on the client's SPIFFE ID, as an endpoint
  // would before serving it. On a resumed connection the client sent no certificate: OpenSSL
  // restores the one it verified on the full handshake from the ticket (encrypted and
  // authenticated under the server's ticket key), with its verification result. The SAN string
  // of Node's own X.509 object is compared whole: the cheapest check per connection.
  const san = socket.authorized ? socket.getPeerX509Certificate()?.subjectAltName : undefined;
  if (san === expectedSan) stats.identityChecked++;
  else stats.identityMismatches++;
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    const text = chunk.toString('latin1');
    if (text.startsWith('who')) {
      const probe: Probe = {
        peer: peerSpiffeId(socket.getPeerCertificate().raw),
        reused: socket.isSessionReused(),
        protocol: socket.getProtocol(),
      };
      socket.end(`${JSON.stringify(probe)}\n`);
    } else if (text.startsWith('GET ')) {
      // openssl s_time -www, and the Node client's matching loop: a tiny answer, then close.
      socket.end('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok');
    }
  });
}

const listen = (server: Server): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });

export async function startServers(message: ServerStart): Promise<Servers> {
  const stats: ServerStats = {
    connections: 0,
    resumed: 0,
    identityChecked: 0,
    identityMismatches: 0,
    clientErrors: 0,
    lastError: '',
    cpuMicros: 0,
  };
  const all: Server[] = [];
  const ports = {} as Record<ProfileName, number>;
  for (const name of profileNames) {
    const server = createServer(
      {
        key: message.key,
        cert: message.cert,
        ca: message.ca,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        // Stateless tickets under Node's random per-server ticket keys. A Node server has no other
        // TLS 1.3 resumption: with SSL_OP_NO_TICKET its ClientHello parser looks up the legacy
        // session ID, which TLS 1.3 clients fill with random bytes, so nothing ever resumes.
        sessionTimeout: SESSION_TIMEOUT_SECONDS,
        ...profiles[name].server,
      },
      (socket) => onSecureConnection(socket, `URI:${message.clientId}`, stats),
    );
    server.on('tlsClientError', (err) => {
      stats.clientErrors++;
      stats.lastError = err.message;
    });
    all.push(server);
    ports[name] = await listen(server);
  }
  // The floor: TCP connect and one 1-byte round trip through both event loops, no TLS.
  const plain = createNetServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => socket.write(chunk));
  });
  all.push(plain);
  const plainPort = await listen(plain);
  return {
    ready: { op: 'ready', ports, plainPort },
    stats: () => {
      const cpu = process.cpuUsage();
      return { ...stats, cpuMicros: cpu.user + cpu.system };
    },
    close: async () => {
      await Promise.all(all.map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

if (process.argv[2] === SERVER_FLAG && process.send) {
  let servers: Servers | undefined;
  process.on('message', (raw: unknown) => {
    const message = raw as ServerStart | { op: 'stats' };
    if (message.op === 'start') {
      startServers(message).then(
        (started) => {
          servers = started;
          process.send?.(started.ready);
        },
        (err: unknown) => {
          process.stderr.write(`mtls-handshake server: ${String(err)}\n`);
          process.exit(1);
        },
      );
    } else if (message.op === 'stats' && servers) {
      const reply: ServerStatsReply = { op: 'stats', stats: servers.stats() };
      process.send?.(reply);
    }
  });
  process.on('disconnect', () => process.exit(0));
}
