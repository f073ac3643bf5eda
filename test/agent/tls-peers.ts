import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { connect, createSecureContext, createServer } from 'node:tls';
import { OutputFile } from '@warden/agent';
import {
  certificatePem,
  createIntermediateCertificate,
  createRootCertificate,
  exportPrivateKeyPem,
  generateKeyPair,
  issueLeafCertificate,
  peerSpiffeId,
} from '@warden/pki';

/**
 * Node TLS 1.3 endpoints that read their identity from the agent's PEM files, as a
 * file-watching consumer does: the files are read again for every new context, and a pair read
 * mid-rotation (new chain, old key) is refused by createSecureContext and simply read again.
 */
export async function readIdentity(dir: string): Promise<SecureContextOptions> {
  for (let attempt = 0; ; attempt++) {
    const options = {
      cert: await readFile(join(dir, OutputFile.chain)),
      key: await readFile(join(dir, OutputFile.key)),
      ca: await readFile(join(dir, OutputFile.roots)),
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
  close(): Promise<void>;
};

/** Answers each connection with the client's SPIFFE ID; reloads its files every `reloadMs`. */
export async function startMtlsServer(dir: string, reloadMs = 50): Promise<MtlsServer> {
  const peers: string[] = [];
  let current = await readIdentity(dir);
  const server = createServer(
    { ...current, requestCert: true, rejectUnauthorized: true },
    (socket: TLSSocket) => {
      const peer = peerSpiffeId(socket.getPeerCertificate().raw) ?? 'none';
      peers.push(peer);
      socket.end(`${peer}\n`);
    },
  );
  server.on('tlsClientError', () => undefined);
  let reloading = false;
  const reload = setInterval(async () => {
    if (reloading) return;
    reloading = true;
    try {
      const next = await readIdentity(dir);
      if (
        next.cert?.toString() === current.cert?.toString() &&
        next.key?.toString() === current.key?.toString()
      )
        return;
      server.setSecureContext({ ...next });
      current = next;
    } catch {
      // Files gone (revoked) or unreadable: keep the last good context, as a file watcher would.
    } finally {
      reloading = false;
    }
  }, reloadMs);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    peers,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(reload);
        server.close(() => resolve());
      }),
  };
}

export type MtlsResult = { serverId: string | null; echoedClientId: string; protocol: string | null };

/** One mTLS request with the client's current files; checks the server's SPIFFE ID, not a host name. */
export async function mtlsRequest(dir: string, port: number, expectServer: string): Promise<MtlsResult> {
  const identity = await readIdentity(dir);
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
 * bundle from `bundleFrom`, so the client itself would trust the server).
 */
export async function foreignIdentity(spiffeId: string, bundleFrom: string): Promise<string> {
  const trustDomain = new URL(spiffeId).host;
  const notAfter = new Date(Date.now() + 3_600_000);
  const rootKeys = await generateKeyPair();
  const root = await createRootCertificate({ trustDomain, keys: rootKeys, notAfter });
  const interKeys = await generateKeyPair();
  const intermediate = await createIntermediateCertificate({
    trustDomain,
    keys: interKeys,
    notAfter,
    issuer: { certificate: root, privateKey: rootKeys.privateKey },
  });
  const keys = await generateKeyPair();
  const leaf = await issueLeafCertificate({
    spiffeId,
    publicKey: keys.publicKey,
    issuer: { certificate: intermediate, privateKey: interKeys.privateKey },
    ttlSeconds: 3600,
  });
  const dir = await mkdtemp(join(tmpdir(), 'warden-foreign-'));
  await writeFile(join(dir, OutputFile.chain), certificatePem(leaf) + certificatePem(intermediate));
  await writeFile(join(dir, OutputFile.key), await exportPrivateKeyPem(keys.privateKey));
  await copyFile(join(bundleFrom, OutputFile.roots), join(dir, OutputFile.roots));
  return dir;
}
