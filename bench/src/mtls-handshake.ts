import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createSecureContext, createServer } from 'node:tls';
import type { PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  certificatePem,
  createIntermediateCertificate,
  createRootCertificate,
  exportPrivateKeyPem,
  generateKeyPair,
  issueLeaf,
  KeyAlgorithm,
  peerSpiffeId,
} from '@warden/pki';
import type { Issuer } from '@warden/pki';
import type { Benchmark, Figures } from './benchmark.ts';
import { microsSince, percentile, round, sidesFor, split, target } from './benchmark.ts';

/**
 * mTLS handshake latency on loopback, with X.509-SVIDs issued by Warden's own PKI (ECDSA P-256
 * root → intermediate → leaf, the SPIFFE ID as URI SAN; each side presents leaf + intermediate and
 * trusts the root only).
 *
 * The server is a Node `tls` TLS 1.3 server (requestCert, rejectUnauthorized, the root as `ca`) in
 * a worker thread, so that it has its own event loop and core, as a peer process would. The client
 * is a Node `tls` client in the main thread presenting its own SVID, with one SecureContext made
 * before the clock starts (as a sidecar keeps one per SVID). Timed, one connection at a time:
 *
 * - full: a new connection with no session, from `connect()` to `'secureConnect'`;
 * - resumed: the same with `session` set to the TLS 1.3 ticket of a previous connection (each one
 *   hands its newest ticket to the next), `isSessionReused()` checked on every one.
 *
 * Each connection is closed (close_notify, FIN) and its `'close'` awaited outside the timed span,
 * so the server's post-handshake work (client chain check, tickets) never overlaps the next one.
 *
 * References in the same run: `openssl s_time -new` and `-reuse` against the same Node server with
 * the same client certificate, key and CA, and `openssl s_server` as the server with the same Node
 * client doing full handshakes.
 */

const TRUST_DOMAIN = 'cluster.local';
const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/cart';
const SERVER_ID = 'spiffe://cluster.local/ns/shop/sa/checkout';
const OPENSSL = '/usr/bin/openssl';
const HOST = '127.0.0.1';
const SERVER_ROLE = 'mtls-handshake-server';

type Svid = { keyPem: string; certPem: string; chainPem: string; der: Buffer };
type Pki = { rootPem: string; intermediatePem: string; client: Svid; server: Svid };

type ServerData = { role: typeof SERVER_ROLE; key: string; cert: string; ca: string };
type ServerStats = { connections: number; resumed: number; clientErrors: number; lastError: string };
/** What the server saw on a connection, sent back when the client writes `who`. */
type Probe = { peer: string | null; reused: boolean; protocol: string | null };

const isServerData = (data: unknown): data is ServerData =>
  typeof data === 'object' && data !== null && 'role' in data && data.role === SERVER_ROLE;

/** The worker side: one TLS 1.3 mTLS server until the worker is terminated. */
function serve(data: ServerData): void {
  const port = parentPort;
  if (!port) return;
  const stats: ServerStats = { connections: 0, resumed: 0, clientErrors: 0, lastError: '' };
  const server = createServer(
    {
      key: data.key,
      cert: data.cert,
      ca: data.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
    },
    (socket) => {
      stats.connections++;
      if (socket.isSessionReused()) stats.resumed++;
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
          // openssl s_time -www: a tiny answer, then close (it reads to the end).
          socket.end('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok');
        }
      });
    },
  );
  server.on('tlsClientError', (err) => {
    stats.clientErrors++;
    stats.lastError = err.message;
  });
  port.on('message', (message: unknown) => {
    if (message === 'stats') port.postMessage({ stats });
  });
  server.listen(0, HOST, () => {
    const address = server.address();
    port.postMessage({ port: typeof address === 'object' && address ? address.port : 0 });
  });
}

if (!isMainThread && isServerData(workerData)) serve(workerData);

type NodeServer = { port: number; stats(): Promise<ServerStats>; stop(): Promise<void> };

async function startNodeServer(pki: Pki): Promise<NodeServer> {
  const data: ServerData = {
    role: SERVER_ROLE,
    key: pki.server.keyPem,
    cert: pki.server.chainPem,
    ca: pki.rootPem,
  };
  const worker = new Worker(new URL(import.meta.url), { workerData: data });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (message: { port?: number }) => {
      if (message.port) resolve(message.port);
      else reject(new Error('the TLS server worker did not report a port'));
    });
  });
  return {
    port,
    stats: () =>
      new Promise((resolve) => {
        worker.once('message', (message: { stats: ServerStats }) => resolve(message.stats));
        worker.postMessage('stats');
      }),
    stop: async () => void (await worker.terminate()),
  };
}

async function makeSvid(issuer: Issuer, spiffeId: string, intermediatePem: string): Promise<Svid> {
  const keys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
  const leaf = await issueLeaf({ spiffeId, publicKey: spki, issuer, ttlSeconds: 3600 });
  return {
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    certPem: leaf.pem,
    chainPem: `${leaf.pem.trimEnd()}\n${intermediatePem.trimEnd()}\n`,
    der: leaf.der,
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

/** `probe` adds the server's view (`Probe`) and the client's: the server's SPIFFE ID, if Node exposes it. */
type Handshake = {
  micros: number;
  reused: boolean;
  session: Buffer | undefined;
  probe?: Probe & { serverIdSeenByClient: string | null };
};

/**
 * One client connection: timed from `connect()` to `'secureConnect'`, then closed, resolving on
 * `'close'` with the newest session ticket the server sent. With `probe`, it asks the server what it
 * saw (its view of the client's SPIFFE ID) before closing.
 */
function handshake(
  port: number,
  context: SecureContext,
  expectedServer: Buffer,
  session: Buffer | undefined,
  probe = false,
): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    let micros = Number.NaN;
    let reused = false;
    let latest: Buffer | undefined;
    let answer = '';
    let serverId: string | null = null;
    const start = process.hrtime.bigint();
    const socket: TLSSocket = connect({
      host: HOST,
      port,
      secureContext: context,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ...(session ? { session } : {}),
      // SVIDs carry no DNS name: the chain is checked against the root by the TLS stack, and the
      // server is pinned to its leaf here (its SPIFFE ID is checked once, outside the timed loop).
      checkServerIdentity: (_host: string, cert: PeerCertificate) =>
        cert.raw.equals(expectedServer) ? undefined : new Error('unexpected server certificate'),
    });
    socket.on('session', (ticket: Buffer) => {
      latest = ticket;
    });
    socket.once('secureConnect', () => {
      micros = microsSince(start);
      reused = socket.isSessionReused();
      if (probe) {
        serverId = peerSpiffeId(socket.getPeerCertificate().raw);
        socket.write('who\n');
      } else socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      if (Number.isNaN(micros)) return reject(new Error('connection closed before the handshake'));
      const result: Handshake = { micros, reused, session: latest };
      if (probe) {
        const seen = JSON.parse(answer.trim() || '{}') as Probe;
        resolve({ ...result, probe: { ...seen, serverIdSeenByClient: serverId } });
      } else resolve(result);
    });
  });
}

type Sample = { micros: number[]; reusedCount: number };

/** `count` sequential handshakes; `resume` passes each one the newest ticket seen so far. */
async function loop(
  count: number,
  port: number,
  context: SecureContext,
  expectedServer: Buffer,
  resume: Buffer | undefined,
): Promise<Sample & { ticket: Buffer | undefined }> {
  const micros: number[] = [];
  let reusedCount = 0;
  let ticket = resume;
  for (let i = 0; i < count; i++) {
    const result = await handshake(port, context, expectedServer, resume ? ticket : undefined);
    micros.push(result.micros);
    if (result.reused) reusedCount++;
    if (resume && result.session) ticket = result.session;
  }
  return { micros, reusedCount, ticket };
}

/** Figures is flat: `prefix` + `P50Micros` and so on. */
function latency(prefix: string, sample: Sample): Figures {
  const sorted = [...sample.micros].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, x) => sum + x, 0) / Math.max(1, sorted.length);
  return {
    [`${prefix}P50Micros`]: round(percentile(sorted, 50)),
    [`${prefix}P90Micros`]: round(percentile(sorted, 90)),
    [`${prefix}P99Micros`]: round(percentile(sorted, 99)),
    [`${prefix}MeanMicros`]: round(mean),
    [`${prefix}Count`]: sorted.length,
    [`${prefix}Reused`]: sample.reusedCount,
  };
}

type Files = { dir: string; clientCert: string; clientKey: string; caBundle: string } & Record<
  'serverCert' | 'serverKey' | 'intermediate' | 'root',
  string
>;

function writeFiles(pki: Pki): Files {
  const dir = mkdtempSync(join(tmpdir(), 'warden-mtls-'));
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
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

/** `openssl s_time` for `seconds`; the rate is connections over the process's wall time. */
function sTime(port: number, files: Files, mode: '-new' | '-reuse', seconds: number, www: boolean) {
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
    ...(www ? ['-www', '/'] : []),
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
    [`${prefix}WallSeconds`]: round(run.wallSeconds, 2),
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

/** `openssl s_server` with the server's SVID, requiring a client certificate from the root. */
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
      '-www',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
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

export const mtlsHandshake: Benchmark = {
  name: 'mtls-handshake',
  description:
    'TLS 1.3 mTLS handshake latency (µs) on loopback with Warden SVIDs: full and resumed, vs openssl s_time / s_server',
  defaults: { handshakes: 2000, warmup: 200, rounds: 4, seconds: 4 },
  run: async (params, progress) => {
    const { handshakes = 1, warmup = 0, rounds = 1, seconds = 1 } = params;
    const pki = await makePki();
    const files = writeFiles(pki);
    const context = createSecureContext({
      key: pki.client.keyPem,
      cert: pki.client.chainPem,
      ca: pki.rootPem,
    });
    const server = await startNodeServer(pki);
    const cleanups: (() => Promise<void>)[] = [
      server.stop,
      async () => rmSync(files.dir, { recursive: true }),
    ];
    try {
      // Outside the timed loop: each side sees the other's SPIFFE ID, once on a full handshake and
      // once on a resumed one.
      const first = await handshake(server.port, context, pki.server.der, undefined, true);
      if (!first.session) throw new Error('the server sent no TLS 1.3 session ticket');
      const again = await handshake(server.port, context, pki.server.der, first.session, true);
      progress(
        `full: ${JSON.stringify(first.probe)}; resumed (${again.reused}): ${JSON.stringify(again.probe)}`,
      );
      // On a resumed session the server sends no certificate and a Node client exposes none (no
      // getPeerCertificate, no checkServerIdentity call): the server's identity is the one checked
      // on the full handshake that minted the ticket. The server still sees the client's SVID.
      const checks: [string, Handshake, string | null][] = [
        ['full', first, SERVER_ID],
        ['resumed', again, null],
      ];
      for (const [what, result, serverIdSeen] of checks) {
        const probe = result.probe;
        if (
          probe?.peer !== CLIENT_ID ||
          probe.serverIdSeenByClient !== serverIdSeen ||
          probe.protocol !== 'TLSv1.3'
        )
          throw new Error(`${what} handshake: unexpected identities ${JSON.stringify(probe)}`);
      }
      if (first.reused || !again.reused || !again.probe?.reused)
        throw new Error('session resumption did not behave as expected');

      progress('warm-up');
      await loop(warmup, server.port, context, pki.server.der, undefined);
      let ticket =
        (await loop(warmup, server.port, context, pki.server.der, first.session)).ticket ?? first.session;
      const full: Sample = { micros: [], reusedCount: 0 };
      const resumed: Sample = { micros: [], reusedCount: 0 };
      const parts = split(handshakes, rounds);
      for (const [index, count] of parts.entries()) {
        for (const side of sidesFor(index, 'full', 'resumed')) {
          const sample = side === 'full' ? full : resumed;
          const result = await loop(
            count,
            server.port,
            context,
            pki.server.der,
            side === 'full' ? undefined : ticket,
          );
          sample.micros.push(...result.micros);
          sample.reusedCount += result.reusedCount;
          if (side === 'resumed' && result.ticket) ticket = result.ticket;
        }
        progress(`round ${index + 1}/${parts.length}`);
      }
      if (full.reusedCount !== 0) throw new Error(`${full.reusedCount} full handshakes were resumed`);
      if (resumed.reusedCount !== resumed.micros.length)
        throw new Error(
          `only ${resumed.reusedCount}/${resumed.micros.length} resumed handshakes were resumed`,
        );

      const baseline: Figures = {};
      let sTimeNewMean = Number.NaN;
      if (existsSync(OPENSSL)) {
        const before = await server.stats();
        progress(`openssl s_time -new, ${seconds} s`);
        const sNew = sTimeFigures('sTimeNew', await sTime(server.port, files, '-new', seconds, false));
        progress(`openssl s_time -reuse, ${seconds} s`);
        const sReuse = sTimeFigures('sTimeReuse', await sTime(server.port, files, '-reuse', seconds, false));
        // TLS 1.3 tickets arrive after the handshake; s_time only reads them when it fetches a page.
        progress(`openssl s_time -reuse -www /, ${seconds} s`);
        const sReuseWww = sTimeFigures(
          'sTimeReuseWww',
          await sTime(server.port, files, '-reuse', seconds, true),
        );
        progress(`openssl s_time -new -www /, ${seconds} s`);
        const sNewWww = sTimeFigures('sTimeNewWww', await sTime(server.port, files, '-new', seconds, true));
        const after = await server.stats();
        sTimeNewMean = Number(sNew.sTimeNewMeanMicros);
        Object.assign(baseline, sNew, sReuse, sReuseWww, sNewWww, {
          nodeServerConnectionsDuringSTime: after.connections - before.connections,
          nodeServerResumedDuringSTime: after.resumed - before.resumed,
          nodeServerClientErrorsDuringSTime: after.clientErrors - before.clientErrors,
        });
        if (after.clientErrors > before.clientErrors)
          progress(`server saw client errors: ${after.lastError}`);

        progress('openssl s_server, node client full handshakes');
        try {
          const sServer = await startSServer(files);
          cleanups.unshift(() => stopChild(sServer.child));
          await loop(warmup, sServer.port, context, pki.server.der, undefined);
          const viaSServer = await loop(handshakes, sServer.port, context, pki.server.der, undefined);
          Object.assign(baseline, latency('nodeClientToSServerFull', viaSServer));
          await stopChild(sServer.child);
        } catch (err) {
          progress(`openssl s_server reference skipped: ${err instanceof Error ? err.message : String(err)}`);
          baseline.nodeClientToSServerFailed = 1;
        }
      } else {
        progress(`${OPENSSL} is missing: no openssl reference`);
        baseline.opensslMissing = 1;
      }

      const stats = await server.stats();
      const fullFigures = latency('full', full);
      const resumedFigures = latency('resumed', resumed);
      const fullP50Millis = Number(fullFigures.fullP50Micros) / 1000;
      const resumedP50Millis = Number(resumedFigures.resumedP50Micros) / 1000;
      const fullOk = fullP50Millis <= 2 ? 1 : 0;
      const resumedOk = resumedP50Millis < 1 ? 1 : 0;
      return {
        results: {
          ...fullFigures,
          ...resumedFigures,
          resumedOverFullP50: round(resumedP50Millis / fullP50Millis, 3),
          spiffeIdsChecked: 1,
          serverConnections: stats.connections,
          serverResumed: stats.resumed,
          serverClientErrors: stats.clientErrors,
          targetFullP50AtMost2Millis: fullOk,
          targetResumedP50Under1Millis: resumedOk,
        },
        baseline,
        ratio: round(Number(fullFigures.fullMeanMicros) / sTimeNewMean, 3),
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
