/**
 * The mtls-handshake benchmark's client: one TLS connection with the times of its steps, one plain
 * TCP connection to the echo server, minting a session ticket, and the identity probe run before
 * the timed loops.
 */
import { connect as connectTcp } from 'node:net';
import { connect } from 'node:tls';
import type { PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import { microsSince } from '../benchmark.ts';
import type { Probe } from '../mtls-handshake-server.ts';
import { HOST } from '../mtls-handshake-server.ts';
import { CLIENT_ID, GET_PATH, SERVER_ID } from './fixtures.ts';

/** A session ticket, with the server identity the client verified on the full handshake that minted it. */
export type Ticket = { session: Buffer; serverId: string };

/** One connection, as the client saw it. */
type Conn = {
  /** connect() → 'secureConnect'. */
  micros: number;
  /** The connect() call itself: building the TLSSocket and, when resuming, parsing the session Buffer. */
  setupMicros: number;
  /** connect() returned → TCP connected (the first 'connect' listener, before Node builds the ClientHello). */
  tcpMicros: number;
  /** TCP connected → ClientHello built and written (Node's `_start`, in the 'connect' listener before ours). */
  helloMicros: number;
  reused: boolean;
  group: string | undefined;
  suite: string | undefined;
  /** The newest ticket the server sent, if the client listened for one. */
  session: Buffer | undefined;
  /** What the server answered to `who`. */
  answer: string;
};

type ConnectOptions = {
  port: number;
  context: SecureContext;
  ticket?: Ticket;
  /** After the handshake: close at once, fetch a page as s_time -www does, or ask the server what it saw. */
  then?: 'end' | 'get' | 'who';
  keepSession?: boolean;
};

/**
 * One client connection, resolved on 'close'. On a full handshake the client checks the server's
 * SPIFFE ID in `checkServerIdentity` (SVIDs have no DNS name; OpenSSL has already verified the
 * chain against the root). On a resumed one Node calls no `checkServerIdentity` and exposes no
 * server certificate: the server proves it holds the ticket's resumption secret, so its identity is
 * the one verified when the ticket was minted, which the client keeps beside the ticket (`Ticket`).
 */
export function connectOnce({
  port,
  context,
  ticket,
  then = 'end',
  keepSession = false,
}: ConnectOptions): Promise<Conn> {
  return new Promise((resolve, reject) => {
    let micros = Number.NaN;
    let tcpAt = 0n;
    let helloAt = 0n;
    let reused = false;
    let group: string | undefined;
    let suite: string | undefined;
    let session: Buffer | undefined;
    let answer = '';
    const start = process.hrtime.bigint();
    const socket: TLSSocket = connect({
      host: HOST,
      port,
      secureContext: context,
      ...(ticket ? { session: ticket.session } : {}),
      checkServerIdentity: (_host: string, cert: PeerCertificate) =>
        cert.subjectaltname === `URI:${SERVER_ID}`
          ? undefined
          : new Error(`the server is ${cert.subjectaltname}, expected ${SERVER_ID}`),
    });
    const returned = process.hrtime.bigint();
    socket.prependOnceListener('connect', () => {
      tcpAt = process.hrtime.bigint();
    });
    socket.once('connect', () => {
      helloAt = process.hrtime.bigint();
    });
    // Only when a ticket is wanted: listening makes Node serialise every ticket the server sends.
    // The 'session' event comes after 'secureConnect' (tickets follow the handshake) and is never
    // waited for inside the timed span; a Node server sends none on a resumed connection.
    if (keepSession) socket.on('session', (next: Buffer) => (session = next));
    socket.once('secureConnect', () => {
      micros = microsSince(start);
      reused = socket.isSessionReused();
      // TLS 1.3: the key-share group of this handshake (resumed ones included: psk_dhe_ke).
      group = (socket.getEphemeralKeyInfo() as { name?: string } | null)?.name;
      suite = socket.getCipher()?.standardName;
      if (then === 'get') socket.write(`GET ${GET_PATH} HTTP/1.0\r\n\r\n`);
      else if (then === 'who') socket.write('who\n');
      else socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      if (Number.isNaN(micros)) return reject(new Error('connection closed before the handshake'));
      resolve({
        micros,
        setupMicros: Number(returned - start) / 1000,
        tcpMicros: Number(tcpAt - returned) / 1000,
        helloMicros: Number(helloAt - tcpAt) / 1000,
        reused,
        group,
        suite,
        session,
        answer,
      });
    });
  });
}

/** The newest ticket of a full handshake made with `keepSession`. */
function ticketOf(conn: Conn): Ticket {
  if (!conn.session) throw new Error('the server sent no TLS 1.3 session ticket');
  // connectOnce rejects unless checkServerIdentity accepted SERVER_ID.
  return { session: conn.session, serverId: SERVER_ID };
}

/** A full, identity-checked handshake whose newest ticket the resumed connections then use. */
export async function mint(port: number, context: SecureContext): Promise<Ticket> {
  return ticketOf(await connectOnce({ port, context, keepSession: true }));
}

/** Plain TCP to the echo server: connect() → 'connect', and → the 1-byte echo back. */
export function tcpOnce(port: number): Promise<{ connectMicros: number; echoMicros: number }> {
  return new Promise((resolve, reject) => {
    let connectMicros = Number.NaN;
    let echoMicros = Number.NaN;
    const start = process.hrtime.bigint();
    const socket = connectTcp({ host: HOST, port });
    socket.once('connect', () => {
      connectMicros = microsSince(start);
      socket.write('x');
    });
    socket.once('data', () => {
      echoMicros = microsSince(start);
      socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ connectMicros, echoMicros }));
  });
}

/** Outside the timed loops: each side sees the other's SPIFFE ID, on a full and on a resumed connection. */
export async function checkIdentities(
  port: number,
  context: SecureContext,
  progress: (line: string) => void,
): Promise<void> {
  const full = await connectOnce({ port, context, then: 'who', keepSession: true });
  const resumed = await connectOnce({ port, context, ticket: ticketOf(full), then: 'who' });
  const seen = [full, resumed].map((conn) => JSON.parse(conn.answer.trim() || '{}') as Probe);
  progress(
    `full: ${JSON.stringify(seen[0])} ${full.group} ${full.suite}; resumed: ${JSON.stringify(seen[1])} ${resumed.group} ${resumed.suite}`,
  );
  for (const [what, probe, reused] of [
    ['full', seen[0], false],
    ['resumed', seen[1], true],
  ] as const) {
    if (probe?.peer !== CLIENT_ID || probe.protocol !== 'TLSv1.3' || probe.reused !== reused)
      throw new Error(`${what} connection: the server saw ${JSON.stringify(probe)}`);
  }
  if (full.reused || !resumed.reused) throw new Error('session resumption did not behave as expected');
}
