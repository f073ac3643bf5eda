import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { connect, createSecureContext, createServer } from 'node:tls';
import { OutputFile } from '@warden/agent';
import { peerSpiffeId } from '@warden/pki';
import { crlBlocks, testTrustDomain } from '@warden/testing';

/** Whether an endpoint also reads crl.pem and so refuses revoked peers (and needs a current CRL). */
export type PeerOptions = { crl?: boolean };

/**
 * Node TLS 1.3 endpoints that read their identity from the agent's PEM files, as a
 * file-watching consumer does: the files are read again for every new context, and a pair read
 * mid-rotation (new chain, old key) is refused by createSecureContext and simply read again.
 */
export async function readIdentity(dir: string, peer: PeerOptions = {}): Promise<SecureContextOptions> {
  for (let attempt = 0; ; attempt++) {
    const options = {
      cert: await readFile(join(dir, OutputFile.chain)),
      key: await readFile(join(dir, OutputFile.key)),
      ca: await readFile(join(dir, OutputFile.roots)),
      ...(peer.crl ? { crl: crlBlocks(await readFile(join(dir, OutputFile.crl), 'utf8')) } : {}),
      minVersion: 'TLSv1.3' as const,
    };
    try {
      createSecureContext(options);
      return options;
    } catch (err) {
      if (attempt >= 20) throw err;
      await sleep(5);
    }
  }
}

export type MtlsServer = {
  readonly port: number;
  /** SPIFFE IDs of the clients it accepted. */
  readonly peers: string[];
  /**
   * Why it refused each client it refused: OpenSSL's verification error as node:tls names it
   * (`CERT_REVOKED`, `CERT_HAS_EXPIRED`, `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`, ...).
   */
  readonly refusals: string[];
  /** Reads the files again now and serves the new context to the next connections. */
  reload(): Promise<void>;
  close(): Promise<void>;
};

/**
 * The verification error of a refused client. node:tls checks the client's chain only once the
 * handshake is done, then destroys a socket whose chain failed: `authorizationError` holds
 * OpenSSL's code, and `tlsClientError` hands over that socket.
 */
function refusalReason(err: Error, socket: TLSSocket): string {
  const reason: unknown = socket.authorizationError;
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error) return reason.message;
  return `not a verification failure: ${(err as NodeJS.ErrnoException).code ?? err.message}`;
}

/**
 * Answers each connection with the client's SPIFFE ID; reloads its files every `reloadMs` (0:
 * only when `reload` is called).
 */
export async function startMtlsServer(
  dir: string,
  options: PeerOptions & { reloadMs?: number } = {},
): Promise<MtlsServer> {
  const { reloadMs = 50, ...peer } = options;
  const peers: string[] = [];
  const refusals: string[] = [];
  let current = await readIdentity(dir, peer);
  const server = createServer(
    { ...current, requestCert: true, rejectUnauthorized: true },
    (socket: TLSSocket) => {
      const id = peerSpiffeId(socket.getPeerCertificate().raw) ?? 'none';
      peers.push(id);
      socket.end(`${id}\n`);
    },
  );
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => refusals.push(refusalReason(err, socket)));
  const same = (a: SecureContextOptions, b: SecureContextOptions): boolean =>
    a.cert?.toString() === b.cert?.toString() &&
    a.key?.toString() === b.key?.toString() &&
    String(a.crl) === String(b.crl);
  const reload = async (): Promise<void> => {
    const next = await readIdentity(dir, peer);
    if (same(next, current)) return;
    server.setSecureContext({ ...next });
    current = next;
  };
  let reloading = false;
  const timer =
    reloadMs > 0
      ? setInterval(async () => {
          if (reloading) return;
          reloading = true;
          try {
            await reload();
          } catch {
            // Files gone (revoked) or unreadable: keep the last good context, as a file watcher would.
          } finally {
            reloading = false;
          }
        }, reloadMs)
      : undefined;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    peers,
    refusals,
    reload,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        server.close(() => resolve());
      }),
  };
}

export type MtlsResult = { serverId: string | null; echoedClientId: string; protocol: string | null };

/** One mTLS request with the client's current files; checks the server's SPIFFE ID, not a host name. */
export async function mtlsRequest(
  dir: string,
  port: number,
  expectServer: string,
  peer: PeerOptions = {},
): Promise<MtlsResult> {
  const identity = await readIdentity(dir, peer);
  return new Promise((resolve, reject) => {
    const socket = connect({
      ...identity,
      host: '127.0.0.1',
      port,
      // An SVID names a SPIFFE ID, not a DNS name: identity is checked on the URI SAN.
      checkServerIdentity: (_host, cert) =>
        peerSpiffeId(cert.raw) === expectServer
          ? undefined
          : new Error(`server is ${peerSpiffeId(cert.raw) ?? 'unknown'}, expected ${expectServer}`),
    });
    let body = '';
    let serverId: string | null = null;
    let protocol: string | null = null;
    socket.on('secureConnect', () => {
      serverId = peerSpiffeId(socket.getPeerCertificate().raw);
      protocol = socket.getProtocol();
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (chunk: Buffer) => (body += chunk.toString()));
    socket.on('error', reject);
    // In TLS 1.3 the client's handshake completes before the server checks the client's
    // certificate; a refused client sees the connection close without an answer.
    socket.on('end', () =>
      body === ''
        ? reject(new Error('the server closed the connection without an answer'))
        : resolve({ serverId, echoedClientId: body.trim(), protocol }),
    );
    socket.on('close', () => reject(new Error('the connection closed before it ended')));
  });
}

/**
 * Files like the agent writes, but with an SVID from another trust domain's own CA (and the real
 * bundle and CRLs from `bundleFrom`, so the client itself would trust the server).
 */
export async function foreignIdentity(spiffeId: string, bundleFrom: string): Promise<string> {
  const foreign = await testTrustDomain(new URL(spiffeId).host);
  const leaf = await foreign.leaf(spiffeId);
  const dir = await mkdtemp(join(tmpdir(), 'warden-foreign-'));
  await writeFile(join(dir, OutputFile.chain), leaf.chainPem.join(''));
  await writeFile(join(dir, OutputFile.key), leaf.keyPem);
  await copyTrust(bundleFrom, dir);
  return dir;
}

/** Copies the bundle and, when the agent writes one, the CRL file: what a peer verifies the other side with. */
export async function copyTrust(from: string, to: string): Promise<void> {
  await copyFile(join(from, OutputFile.roots), join(to, OutputFile.roots));
  if (existsSync(join(from, OutputFile.crl)))
    await copyFile(join(from, OutputFile.crl), join(to, OutputFile.crl));
}
