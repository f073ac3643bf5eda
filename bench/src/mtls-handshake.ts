import { execFile, fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createSecureContext } from 'node:tls';
import type { PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import {
  certificatePem,
  createIntermediateCertificate,
  createRootCertificate,
  exportPrivateKeyPem,
  generateKeyPair,
  issueLeaf,
  KeyAlgorithm,
} from '@warden/pki';
import type { Issuer } from '@warden/pki';
import type { Benchmark, Figures } from './benchmark.ts';
import { microsSince, percentile, round, split, target } from './benchmark.ts';
import type {
  ProfileName,
  ServerReady,
  ServerStart,
  ServerStats,
  ServerStatsReply,
} from './mtls-handshake-profiles.ts';
import { profileNames, profiles, TUNED_GROUPS, TUNED_SUITES } from './mtls-handshake-profiles.ts';
import type { Probe } from './mtls-handshake-server.ts';
import { SERVER_FLAG, startServers } from './mtls-handshake-server.ts';

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
 */

const TRUST_DOMAIN = 'cluster.local';
const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/cart';
const SERVER_ID = 'spiffe://cluster.local/ns/shop/sa/checkout';
const OPENSSL = '/usr/bin/openssl';
const HOST = '127.0.0.1';
/** The file openssl s_server -WWW serves and s_time -www fetches: the same 2 bytes as the Node server's answer. */
const GET_PATH = '/ok';

type Svid = { keyPem: string; certPem: string; chainPem: string };
type Pki = { rootPem: string; intermediatePem: string; client: Svid; server: Svid };

async function makeSvid(issuer: Issuer, spiffeId: string, intermediatePem: string): Promise<Svid> {
  const keys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
  const leaf = await issueLeaf({ spiffeId, publicKey: spki, issuer, ttlSeconds: 3600 });
  return {
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    certPem: leaf.pem,
    chainPem: `${leaf.pem.trimEnd()}\n${intermediatePem.trimEnd()}\n`,
  };
}

async function makePki(): Promise<Pki> {
  const notAfter = new Date(Date.now() + 86_400_000);
  const rootKeys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
  const root = await createRootCertificate({ trustDomain: TRUST_DOMAIN, keys: rootKeys, notAfter });
  const interKeys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
  const intermediate = await createIntermediateCertificate({
    trustDomain: TRUST_DOMAIN,
    keys: interKeys,
    issuer: { certificate: root, privateKey: rootKeys.privateKey },
    notAfter,
  });
  const issuer: Issuer = { certificate: intermediate, privateKey: interKeys.privateKey };
  const intermediatePem = certificatePem(intermediate);
  return {
    rootPem: certificatePem(root),
    intermediatePem,
    client: await makeSvid(issuer, CLIENT_ID, intermediatePem),
    server: await makeSvid(issuer, SERVER_ID, intermediatePem),
  };
}

/** A set of servers (one per profile and the TCP echo), in a child process or in this one. */
type Servers = ServerReady & { stats(): Promise<ServerStats>; stop(): Promise<void> };

const serverStart = (pki: Pki): ServerStart => ({
  op: 'start',
  key: pki.server.keyPem,
  cert: pki.server.chainPem,
  ca: pki.rootPem,
  clientId: CLIENT_ID,
});

async function startServerProcess(pki: Pki): Promise<Servers> {
  const child = fork(fileURLToPath(new URL('./mtls-handshake-server.ts', import.meta.url)), [SERVER_FLAG], {
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
async function startServersInProcess(pki: Pki): Promise<Servers> {
  const servers = await startServers(serverStart(pki));
  return { ...servers.ready, stats: async () => servers.stats(), stop: servers.close };
}

/** A session ticket, with the server identity the client verified on the full handshake that minted it. */
type Ticket = { session: Buffer; serverId: string };

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
function connectOnce({
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

/** A full, identity-checked handshake whose newest ticket the resumed connections then use. */
async function mint(port: number, context: SecureContext): Promise<Ticket> {
  const conn = await connectOnce({ port, context, keepSession: true });
  if (!conn.session) throw new Error('the server sent no TLS 1.3 session ticket');
  // connectOnce rejects unless checkServerIdentity accepted SERVER_ID.
  return { session: conn.session, serverId: SERVER_ID };
}

/** Plain TCP to the echo server: connect() → 'connect', and → the 1-byte echo back. */
function tcpOnce(port: number): Promise<{ connectMicros: number; echoMicros: number }> {
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

type Sample = {
  micros: number[];
  setupMicros: number[];
  tcpMicros: number[];
  helloMicros: number[];
  /** ClientHello written → 'secureConnect': the server's part and the client's processing of its flight. */
  afterHelloMicros: number[];
  reused: number;
  /** Wall time of whole connection cycles (handshake, close, the loop), µs. */
  cycleMicros: number;
  clientCpuMicros: number;
  serverCpuMicros: number;
};

const emptySample = (): Sample => ({
  micros: [],
  setupMicros: [],
  tcpMicros: [],
  helloMicros: [],
  afterHelloMicros: [],
  reused: 0,
  cycleMicros: 0,
  clientCpuMicros: 0,
  serverCpuMicros: 0,
});

type SideName =
  | 'tunedFull'
  | 'tunedResumed'
  | 'tunedResumedGet'
  | 'nodeDefaultsFull'
  | 'nodeDefaultsResumed'
  | 'groupOnlyResumed'
  | 'suiteOnlyResumed'
  | 'inProcessFull'
  | 'inProcessResumed'
  | 'tcp';
type Side = {
  name: SideName;
  /** null: plain TCP to the echo server. */
  profile: ProfileName | null;
  resumed: boolean;
  then: 'end' | 'get';
  /** Where the server runs: its own process (the headline), or this one. */
  placement: 'process' | 'inProcess';
};

const SIDES: readonly Side[] = [
  { name: 'tunedFull', profile: 'tuned', resumed: false, then: 'end', placement: 'process' },
  { name: 'tunedResumed', profile: 'tuned', resumed: true, then: 'end', placement: 'process' },
  { name: 'nodeDefaultsFull', profile: 'nodeDefaults', resumed: false, then: 'end', placement: 'process' },
  { name: 'nodeDefaultsResumed', profile: 'nodeDefaults', resumed: true, then: 'end', placement: 'process' },
  { name: 'groupOnlyResumed', profile: 'groupOnly', resumed: true, then: 'end', placement: 'process' },
  { name: 'suiteOnlyResumed', profile: 'suiteOnly', resumed: true, then: 'end', placement: 'process' },
  // The same work per connection as `openssl s_time -reuse -www`: the ratio's Node side.
  { name: 'tunedResumedGet', profile: 'tuned', resumed: true, then: 'get', placement: 'process' },
  { name: 'inProcessFull', profile: 'tuned', resumed: false, then: 'end', placement: 'inProcess' },
  { name: 'inProcessResumed', profile: 'tuned', resumed: true, then: 'end', placement: 'inProcess' },
  { name: 'tcp', profile: null, resumed: false, then: 'end', placement: 'process' },
];

type Loop = {
  count: number;
  port: number;
  context: SecureContext;
  ticket: Ticket | undefined;
  then: 'end' | 'get';
  /** Expected negotiation; null: not checked. */
  group: string | null;
  suite: string | null;
};

/** `count` sequential TLS connections; throws on any resumption or negotiation that is not as expected. */
async function tlsLoop(loop: Loop, into: Sample): Promise<void> {
  // The client resumes only with a ticket minted by the server identity it wants for this peer.
  if (loop.ticket && loop.ticket.serverId !== SERVER_ID)
    throw new Error(`a ticket from ${loop.ticket.serverId} offered to ${SERVER_ID}`);
  const start = process.hrtime.bigint();
  for (let i = 0; i < loop.count; i++) {
    const conn = await connectOnce({
      port: loop.port,
      context: loop.context,
      then: loop.then,
      ...(loop.ticket ? { ticket: loop.ticket } : {}),
    });
    if (conn.reused !== Boolean(loop.ticket))
      throw new Error(
        `a ${loop.ticket ? 'resumed' : 'full'} handshake reported isSessionReused() ${conn.reused}`,
      );
    if ((loop.group && conn.group !== loop.group) || (loop.suite && conn.suite !== loop.suite))
      throw new Error(`negotiated ${conn.group} ${conn.suite}, expected ${loop.group} ${loop.suite}`);
    if (loop.then === 'get' && !conn.answer.endsWith('ok'))
      throw new Error(`unexpected answer ${conn.answer}`);
    into.micros.push(conn.micros);
    into.setupMicros.push(conn.setupMicros);
    into.tcpMicros.push(conn.tcpMicros);
    into.helloMicros.push(conn.helloMicros);
    into.afterHelloMicros.push(conn.micros - conn.setupMicros - conn.tcpMicros - conn.helloMicros);
    if (conn.reused) into.reused++;
  }
  into.cycleMicros += microsSince(start);
}

async function tcpLoop(count: number, port: number, into: Sample): Promise<void> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const { connectMicros, echoMicros } = await tcpOnce(port);
    into.tcpMicros.push(connectMicros);
    into.micros.push(echoMicros);
  }
  into.cycleMicros += microsSince(start);
}

/** Adds this process's CPU time (user + system, µs) during `work` to the sample. */
async function withClientCpu(into: Sample, work: () => Promise<void>): Promise<void> {
  const before = process.cpuUsage();
  await work();
  const cpu = process.cpuUsage(before);
  into.clientCpuMicros += cpu.user + cpu.system;
}

const p = (values: readonly number[], pct: number): number =>
  round(
    percentile(
      [...values].sort((a, b) => a - b),
      pct,
    ),
  );
const mean = (values: readonly number[]): number =>
  values.reduce((sum, x) => sum + x, 0) / Math.max(1, values.length);

/**
 * Figures is flat: `prefix` + `P50Micros` and so on. `cpu`: `split` gives client and server CPU
 * per connection, `both` one figure for a process that holds both ends, `none` none (openssl s_server).
 */
function latency(
  prefix: string,
  sample: Sample,
  detail = false,
  cpu: 'split' | 'both' | 'none' = 'split',
): Figures {
  const count = sample.micros.length;
  return {
    [`${prefix}P50Micros`]: p(sample.micros, 50),
    ...(detail ? { [`${prefix}P90Micros`]: p(sample.micros, 90) } : {}),
    [`${prefix}P99Micros`]: p(sample.micros, 99),
    [`${prefix}MeanMicros`]: round(mean(sample.micros)),
    [`${prefix}Count`]: count,
    [`${prefix}Reused`]: sample.reused,
    ...(detail
      ? {
          [`${prefix}SetupP50Micros`]: p(sample.setupMicros, 50),
          [`${prefix}TcpConnectP50Micros`]: p(sample.tcpMicros, 50),
          [`${prefix}ClientHelloP50Micros`]: p(sample.helloMicros, 50),
          [`${prefix}AfterHelloP50Micros`]: p(sample.afterHelloMicros, 50),
        }
      : {}),
    [`${prefix}CycleMeanMicros`]: round(sample.cycleMicros / Math.max(1, count)),
    ...(cpu === 'both'
      ? { [`${prefix}BothEndsCpuMicros`]: round(sample.clientCpuMicros / Math.max(1, count)) }
      : {}),
    ...(cpu === 'split'
      ? { [`${prefix}ClientCpuMicros`]: round(sample.clientCpuMicros / Math.max(1, count)) }
      : {}),
    ...(cpu === 'split'
      ? { [`${prefix}ServerCpuMicros`]: round(sample.serverCpuMicros / Math.max(1, count)) }
      : {}),
  };
}

type Files = { dir: string } & Record<
  'clientCert' | 'clientKey' | 'caBundle' | 'serverCert' | 'serverKey' | 'intermediate' | 'root',
  string
>;

function writeFiles(pki: Pki): Files {
  const dir = mkdtempSync(join(tmpdir(), 'warden-mtls-'));
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  // What openssl s_server -WWW serves for GET /ok (it serves files relative to its working directory).
  write(GET_PATH.slice(1), 'ok');
  return {
    dir,
    clientCert: write('client.pem', pki.client.certPem),
    clientKey: write('client-key.pem', pki.client.keyPem),
    serverCert: write('server.pem', pki.server.certPem),
    serverKey: write('server-key.pem', pki.server.keyPem),
    intermediate: write('intermediate.pem', pki.intermediatePem),
    root: write('root.pem', pki.rootPem),
    // s_time's -cert loads the leaf only; OpenSSL then builds the chain it sends (leaf +
    // intermediate) from the verify store, so the intermediate goes beside the root in -CAfile.
    caBundle: write('ca-bundle.pem', `${pki.rootPem.trimEnd()}\n${pki.intermediatePem.trimEnd()}\n`),
  };
}

type STime = { connections: number; wallSeconds: number; userSeconds: number; reusedMarks: number };

/**
 * `openssl s_time` for `seconds`; the rate is connections over the process's wall time. With
 * `-reuse` it resumes the first connection's session on every later one, but on TLS 1.3 the ticket
 * arrives after the handshake and s_time only reads it when it fetches a page: `-reuse` without
 * `-www` never resumes (every connection is full), so the resumed reference is `-reuse -www`.
 */
function sTime(port: number, files: Files, mode: '-new' | '-reuse', seconds: number, get: boolean) {
  const args = [
    's_time',
    '-connect',
    `${HOST}:${port}`,
    '-cert',
    files.clientCert,
    '-key',
    files.clientKey,
    '-CAfile',
    files.caBundle,
    '-tls1_3',
    '-verify',
    '2',
    mode,
    '-time',
    String(seconds),
    ...(get ? ['-www', GET_PATH] : []),
  ];
  return new Promise<STime>((resolve, reject) => {
    const start = process.hrtime.bigint();
    execFile(
      OPENSSL,
      args,
      { timeout: (seconds + 30) * 1000, maxBuffer: 64 * 1024 * 1024 },
      (err, out, errOut) => {
        const wallSeconds = microsSince(start) / 1e6;
        if (err) return reject(new Error(`openssl s_time ${mode} failed: ${errOut || out || err.message}`));
        const match = /(\d+) connections in ([\d.]+)s;/.exec(out);
        if (!match) return reject(new Error(`unexpected openssl s_time output: ${out}`));
        // s_time prints one character per connection: 'r' for a resumed one.
        const marks = out.split('\n').filter((line) => /^[*r]+$/.test(line.trim()));
        resolve({
          connections: Number(match[1]),
          userSeconds: Number(match[2]),
          wallSeconds,
          reusedMarks: marks.join('').split('r').length - 1,
        });
      },
    );
  });
}

function sTimeFigures(prefix: string, run: STime): Figures {
  const perSec = run.connections / run.wallSeconds;
  return {
    [`${prefix}ConnectionsPerSec`]: round(perSec, 0),
    [`${prefix}MeanMicros`]: round(1e6 / perSec),
    [`${prefix}Connections`]: run.connections,
    [`${prefix}ConnectionsPerUserSec`]: round(run.connections / run.userSeconds, 0),
    [`${prefix}Resumed`]: run.reusedMarks,
  };
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/**
 * `openssl s_server` with the server's SVID and the tuned groups and suites (its own order wins,
 * as the Node server's does), requiring a client certificate from the root, serving GET /ok.
 */
async function startSServer(files: Files): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    OPENSSL,
    [
      's_server',
      '-accept',
      `${HOST}:${port}`,
      '-cert',
      files.serverCert,
      '-cert_chain',
      files.intermediate,
      '-key',
      files.serverKey,
      '-CAfile',
      files.root,
      '-Verify',
      '2',
      '-verify_return_error',
      '-tls1_3',
      '-groups',
      TUNED_GROUPS,
      '-ciphersuites',
      TUNED_SUITES,
      '-serverpref',
      '-WWW',
    ],
    { cwd: files.dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const ready = new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`openssl s_server did not start: ${output}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('ACCEPT')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`openssl s_server exited with ${code}: ${output}`));
    });
  });
  try {
    await ready;
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  // Whatever it prints later is drained and dropped.
  child.stdout?.resume();
  child.stderr?.resume();
  return { port, child };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/** Outside the timed loops: each side sees the other's SPIFFE ID, on a full and on a resumed connection. */
async function checkIdentities(port: number, context: SecureContext, progress: (line: string) => void) {
  const full = await connectOnce({ port, context, then: 'who', keepSession: true });
  if (!full.session) throw new Error('the server sent no TLS 1.3 session ticket');
  const ticket: Ticket = { session: full.session, serverId: SERVER_ID };
  const resumed = await connectOnce({ port, context, ticket, then: 'who' });
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

export const mtlsHandshake: Benchmark = {
  name: 'mtls-handshake',
  description:
    'TLS 1.3 mTLS handshake latency (µs) on loopback with Warden SVIDs: full and resumed, vs openssl s_time / s_server',
  defaults: { handshakes: 2000, warmup: 200, rounds: 4, seconds: 2 },
  run: async (params, progress) => {
    const { handshakes = 1, warmup = 0, rounds = 1, seconds = 1 } = params;
    const pki = await makePki();
    const files = writeFiles(pki);
    const contexts = Object.fromEntries(
      profileNames.map((name) => [
        name,
        createSecureContext({
          key: pki.client.keyPem,
          cert: pki.client.chainPem,
          ca: pki.rootPem,
          minVersion: 'TLSv1.3',
          maxVersion: 'TLSv1.3',
          ...profiles[name].client,
        }),
      ]),
    ) as Record<ProfileName, SecureContext>;
    const cleanups: (() => Promise<void>)[] = [async () => rmSync(files.dir, { recursive: true })];
    try {
      const server = await startServerProcess(pki);
      cleanups.unshift(server.stop);
      const inProcess = await startServersInProcess(pki);
      cleanups.unshift(inProcess.stop);
      const placements = { process: server, inProcess };
      await checkIdentities(server.ports.tuned, contexts.tuned, progress);
      for (const name of profileNames) progress(`${name}: ${profiles[name].description}`);

      const samples = Object.fromEntries(SIDES.map((side) => [side.name, emptySample()])) as Record<
        SideName,
        Sample
      >;
      type Tickets = Map<string, Ticket>;
      const runSide = async (side: Side, count: number, tickets: Tickets, into: Sample) => {
        const target = placements[side.placement];
        if (side.profile === null) return tcpLoop(count, target.plainPort, into);
        const profile = profiles[side.profile];
        return tlsLoop(
          {
            count,
            port: target.ports[side.profile],
            context: contexts[side.profile],
            ticket: side.resumed ? tickets.get(`${side.placement} ${side.profile}`) : undefined,
            then: side.then,
            group: profile.group,
            suite: profile.suite,
          },
          into,
        );
      };
      /** A fresh ticket per resumed side's server, each from a full handshake whose server identity was checked. */
      const mintAll = async (): Promise<Tickets> => {
        const tickets: Tickets = new Map();
        for (const { placement, profile, resumed } of SIDES) {
          const key = `${placement} ${profile}`;
          if (!resumed || profile === null || tickets.has(key)) continue;
          tickets.set(key, await mint(placements[placement].ports[profile], contexts[profile]));
        }
        return tickets;
      };
      const statsOf = async () => ({ process: await server.stats(), inProcess: await inProcess.stats() });

      progress('warm-up');
      const warmTickets = await mintAll();
      for (const side of SIDES) await runSide(side, warmup, warmTickets, emptySample());

      const before = await statsOf();
      const parts = split(handshakes, rounds);
      for (const [index, count] of parts.entries()) {
        const tickets = await mintAll();
        // Every side runs in every round, each round starting one side later, so that drift in the
        // machine (other load on the two cores) falls on all of them.
        for (let k = 0; k < SIDES.length; k++) {
          const side = SIDES[(k + index) % SIDES.length] as Side;
          const sample = samples[side.name];
          const serverBefore = await server.stats();
          await withClientCpu(sample, () => runSide(side, count, tickets, sample));
          // In-process sides: the client's figure holds both ends, this one nothing of theirs.
          if (side.placement === 'process')
            sample.serverCpuMicros += (await server.stats()).cpuMicros - serverBefore.cpuMicros;
        }
        progress(`round ${index + 1}/${parts.length}`);
      }
      const afterAll = await statsOf();
      const after = afterAll.process;
      let identityChecked = 0;
      let serverResumed = 0;
      for (const placement of ['process', 'inProcess'] as const) {
        const [was, now] = [before[placement], afterAll[placement]];
        // Every TLS connection of the timed loops (and the ticket-minting ones between rounds) was
        // authorised on the client's SPIFFE ID, resumed ones from the identity the ticket carries.
        const connections = now.connections - was.connections;
        if (now.identityMismatches > 0 || now.identityChecked - was.identityChecked !== connections)
          throw new Error(
            `the ${placement} server failed to authorise ${now.identityMismatches} connections`,
          );
        if (now.clientErrors > 0)
          throw new Error(`the ${placement} server saw client errors: ${now.lastError}`);
        identityChecked += now.identityChecked - was.identityChecked;
        serverResumed += now.resumed - was.resumed;
      }

      const baseline: Figures = {};
      let sTimeNewMean = Number.NaN;
      let sTimeReuseGetMean = Number.NaN;
      if (existsSync(OPENSSL)) {
        const statsBefore = await server.stats();
        const port = server.ports.tuned;
        progress(`openssl s_time -new against the Node server, ${seconds} s`);
        const sNew = sTimeFigures('sTimeNew', await sTime(port, files, '-new', seconds, false));
        progress(`openssl s_time -new -www ${GET_PATH}, ${seconds} s`);
        const sNewGet = sTimeFigures('sTimeNewWww', await sTime(port, files, '-new', seconds, true));
        progress(`openssl s_time -reuse -www ${GET_PATH}, ${seconds} s`);
        const sReuseGet = sTimeFigures('sTimeReuseWww', await sTime(port, files, '-reuse', seconds, true));
        const statsAfter = await server.stats();
        sTimeNewMean = Number(sNew.sTimeNewMeanMicros);
        sTimeReuseGetMean = Number(sReuseGet.sTimeReuseWwwMeanMicros);
        if (sReuseGet.sTimeReuseWwwResumed !== Number(sReuseGet.sTimeReuseWwwConnections))
          throw new Error('openssl s_time -reuse -www did not resume every connection');
        Object.assign(baseline, sNew, sNewGet, sReuseGet, {
          nodeServerConnectionsDuringSTime: statsAfter.connections - statsBefore.connections,
          nodeServerResumedDuringSTime: statsAfter.resumed - statsBefore.resumed,
          nodeServerIdentityMismatchesDuringSTime:
            statsAfter.identityMismatches - statsBefore.identityMismatches,
          nodeServerClientErrorsDuringSTime: statsAfter.clientErrors - statsBefore.clientErrors,
        });

        try {
          const sServer = await startSServer(files);
          cleanups.unshift(() => stopChild(sServer.child));
          progress(`openssl s_time against openssl s_server, ${seconds} s each`);
          Object.assign(
            baseline,
            sTimeFigures('sServerSTimeNew', await sTime(sServer.port, files, '-new', seconds, false)),
            sTimeFigures('sServerSTimeReuseWww', await sTime(sServer.port, files, '-reuse', seconds, true)),
          );
          progress('the Node client against openssl s_server, full and resumed');
          const loop = (ticket: Ticket | undefined): Loop => ({
            count: handshakes,
            port: sServer.port,
            context: contexts.tuned,
            ticket,
            then: 'end',
            group: profiles.tuned.group,
            suite: profiles.tuned.suite,
          });
          await tlsLoop({ ...loop(undefined), count: warmup }, emptySample());
          const viaFull = emptySample();
          await tlsLoop(loop(undefined), viaFull);
          const viaResumed = emptySample();
          await tlsLoop(loop(await mint(sServer.port, contexts.tuned)), viaResumed);
          Object.assign(
            baseline,
            latency('nodeClientToSServerFull', viaFull, false, 'none'),
            latency('nodeClientToSServerResumed', viaResumed, false, 'none'),
          );
          await stopChild(sServer.child);
        } catch (err) {
          progress(`openssl s_server reference skipped: ${err instanceof Error ? err.message : String(err)}`);
          baseline.sServerFailed = 1;
        }
      } else {
        progress(`${OPENSSL} is missing: no openssl reference`);
        baseline.opensslMissing = 1;
      }

      const tcp = samples.tcp;
      const full = latency('full', samples.tunedFull, true);
      const resumed = latency('resumed', samples.tunedResumed, true);
      const resumedGet = latency('resumedGet', samples.tunedResumedGet);
      const fullP50Millis = Number(full.fullP50Micros) / 1000;
      const resumedP50Millis = Number(resumed.resumedP50Micros) / 1000;
      const fullOk = fullP50Millis <= 2 ? 1 : 0;
      const resumedOk = resumedP50Millis < 1 ? 1 : 0;
      return {
        results: {
          ...full,
          ...resumed,
          resumedOverFullP50: round(resumedP50Millis / fullP50Millis, 3),
          ...resumedGet,
          ...latency('nodeDefaultsFull', samples.nodeDefaultsFull),
          ...latency('nodeDefaultsResumed', samples.nodeDefaultsResumed),
          ...latency('groupOnlyResumed', samples.groupOnlyResumed),
          ...latency('suiteOnlyResumed', samples.suiteOnlyResumed),
          ...latency('inProcessFull', samples.inProcessFull, false, 'both'),
          ...latency('inProcessResumed', samples.inProcessResumed, false, 'both'),
          tcpConnectP50Micros: p(tcp.tcpMicros, 50),
          tcpConnectEchoP50Micros: p(tcp.micros, 50),
          tcpConnectEchoP99Micros: p(tcp.micros, 99),
          tcpCycleMeanMicros: round(tcp.cycleMicros / Math.max(1, tcp.micros.length)),
          fullCycleOverSTimeNew: round(Number(full.fullCycleMeanMicros) / sTimeNewMean, 3),
          serverIdentityChecked: identityChecked,
          serverIdentityMismatches: after.identityMismatches + afterAll.inProcess.identityMismatches,
          serverResumed,
          targetFullP50AtMost2Millis: fullOk,
          targetResumedP50Under1Millis: resumedOk,
        },
        baseline,
        ratio: round(Number(resumedGet.resumedGetCycleMeanMicros) / sTimeReuseGetMean, 3),
        target: target(
          'full mTLS handshake p50 at most 2 ms and resumed p50 under 1 ms (count of the two met)',
          'targetsMet',
          fullOk + resumedOk,
          '>=',
          2,
        ),
      };
    } finally {
      for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    }
  },
};
