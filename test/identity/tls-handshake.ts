import { connect, createServer } from 'node:tls';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { peerSpiffeId } from '@warden/pki';
import { crlBlocks } from '@warden/testing';

export type Identity = { key: string; cert: string };

/** A key and its chain (an SVID the CA issued, or a test CA's leaf) as a TLS endpoint presents them. */
export const identityOf = (svid: { keyPem: string; chainPem: readonly string[] }): Identity => ({
  key: svid.keyPem,
  cert: svid.chainPem.join(''),
});

/** Node's default server-identity check wants a DNS name; SVIDs carry a SPIFFE ID instead. */
const expectPeer = (spiffeId: string) => (_host: string, cert: PeerCertificate) =>
  peerSpiffeId(cert.raw) === spiffeId
    ? undefined
    : new Error(`peer is ${peerSpiffeId(cert.raw) ?? 'nobody'}, not ${spiffeId}`);

export type Outcome = {
  clientSaw: string | null;
  serverSaw: string | null;
  clientError?: string;
  /** Why the server refused the client, as OpenSSL names it (e.g. CERT_REVOKED). */
  serverError?: string;
};

/**
 * A TLS 1.3 server and client, both requiring the other's certificate against `roots`. The server
 * answers each connection with the SPIFFE ID it saw, so success means both sides verified.
 */
export async function handshake(
  server: Identity,
  client: Identity,
  roots: string,
  serverId: string,
  crl?: string[],
): Promise<Outcome> {
  const outcome: Outcome = { clientSaw: null, serverSaw: null };
  const srv = createServer(
    {
      ...server,
      ca: roots,
      // node:tls loads one CRL per element: a PEM text holding several yields only its first.
      ...(crl ? { crl: crl.flatMap((text) => crlBlocks(text)) } : {}),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    },
    (socket: TLSSocket) => {
      outcome.serverSaw = peerSpiffeId(socket.getPeerCertificate().raw);
      socket.end(outcome.serverSaw ?? '');
    },
  );
  srv.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    outcome.serverError ??= err.code ?? err.message;
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const address = srv.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  try {
    await new Promise<void>((resolve) => {
      const socket = connect({
        ...client,
        host: '127.0.0.1',
        port,
        ca: roots,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        checkServerIdentity: expectPeer(serverId),
      });
      let reply = '';
      socket.on('secureConnect', () => {
        outcome.clientSaw = peerSpiffeId(socket.getPeerCertificate().raw);
      });
      socket.on('data', (chunk: Buffer) => {
        reply += chunk.toString();
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        outcome.clientError ??= `${err.code ?? ''} ${err.message}`;
      });
      socket.on('close', () => {
        // In TLS 1.3 the client finishes before the server has checked its certificate; only the
        // server's answer proves the server accepted it.
        if (reply === '') outcome.clientSaw = null;
        resolve();
      });
    });
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
  return outcome;
}
