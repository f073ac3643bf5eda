import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerCredentials } from '@grpc/grpc-js';
import { experimental } from '@grpc/grpc-js';
import { ConfigError } from '@warden/runtime';
import type { Reporter, ReporterBinding } from '@warden/telemetry';
import { reporterOfCertificate } from '@warden/telemetry';
import type { RevokedSerials } from './revocation.ts';

/** The listener's mTLS: the service's SVID files and what a sender may report. */
export type IngestTls = {
  /** `cert-chain.pem`, `key.pem` and `root-cert.pem`, as the agent writes them. */
  dir: string;
  refreshMs: number;
  trustDomain: string;
  binding: ReporterBinding;
};

const TLS_FILES = {
  certificateFile: 'cert-chain.pem',
  privateKeyFile: 'key.pem',
  caCertificateFile: 'root-cert.pem',
};

/** How long the listener waits at start for its SVID to load before it gives up. */
const LOAD_TIMEOUT_MS = 10_000;

/**
 * Credentials that ask every sender for a certificate chaining to the trust bundle, re-reading the
 * files every `refreshMs` so a rotated SVID or bundle is used without a restart. Files that cannot
 * be read at start stop the service with their names. `loaded` resolves once the listener has its
 * SVID and bundle: the provider reads them asynchronously, and until then every handshake fails,
 * so the service is not ready before it.
 */
export function mtlsCredentials(tls: IngestTls): {
  credentials: ServerCredentials;
  loaded: () => Promise<void>;
} {
  const files = Object.fromEntries(
    Object.entries(TLS_FILES).map(([role, name]) => [role, join(tls.dir, name)]),
  ) as typeof TLS_FILES;
  const unreadable = Object.values(files).flatMap((file) => {
    try {
      readFileSync(file);
      return [];
    } catch (err) {
      return [`${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`];
    }
  });
  if (unreadable.length > 0)
    throw new ConfigError('telemetry-ingest', [
      `WARDEN_INGEST_TLS_DIR=${JSON.stringify(tls.dir)}: cannot read ${unreadable.join(', ')}`,
    ]);
  const provider = new experimental.FileWatcherCertificateProvider({
    ...files,
    refreshIntervalMs: tls.refreshMs,
  });
  // grpc-js 1.14 passes its first two arguments on in the opposite order of its declaration; the
  // one provider serves both roles, so the order cannot matter.
  const credentials = experimental.createCertificateProviderServerCredentials(provider, provider, true);
  // Called after the server is bound: the credentials' own listeners are then registered first, so
  // by the time these hear of the files, the listener's secure context has them too.
  const loaded = (): Promise<void> =>
    new Promise<void>((resolveLoaded, reject) => {
      let identity = false;
      let ca = false;
      const done = (err?: Error): void => {
        clearTimeout(timer);
        provider.removeIdentityCertificateListener(onIdentity);
        provider.removeCaCertificateListener(onCa);
        if (err) reject(err);
        else resolveLoaded();
      };
      const onIdentity = (update: unknown): void => {
        identity = update !== null;
        if (identity && ca) done();
      };
      const onCa = (update: unknown): void => {
        ca = update !== null;
        if (identity && ca) done();
      };
      const timer = setTimeout(
        () =>
          done(
            new ConfigError('telemetry-ingest', [
              `WARDEN_INGEST_TLS_DIR=${JSON.stringify(tls.dir)}: the SVID and bundle did not load within ${LOAD_TIMEOUT_MS} ms`,
            ]),
          ),
        LOAD_TIMEOUT_MS,
      );
      provider.addIdentityCertificateListener(onIdentity);
      provider.addCaCertificateListener(onCa);
    });
  return { credentials, loaded };
}

/**
 * The reporter of a call on the mTLS listener and its certificate's serial, or why it is refused
 * (`why` is the metric's reason); null on the plaintext listener.
 */
export type ReporterCheck =
  { reporter: Reporter; serial: string } | { refused: string; why: 'unauthenticated' | 'revoked' } | null;

export function reporterCheck(
  call: { getAuthContext(): { sslPeerCertificate?: { subjectaltname?: string; serialNumber?: string } } },
  tls: IngestTls | undefined,
  revoked: RevokedSerials | undefined,
): ReporterCheck {
  if (!tls) return null;
  const certificate = call.getAuthContext().sslPeerCertificate;
  const found = reporterOfCertificate(certificate?.subjectaltname, tls.trustDomain);
  if (typeof found === 'string') return { refused: found, why: 'unauthenticated' };
  const serial = certificate?.serialNumber ?? '';
  revoked?.refresh();
  if (revoked?.has(serial)) return { refused: revokedReason(serial, found), why: 'revoked' };
  return { reporter: found, serial };
}

export const revokedReason = (serial: string, reporter: Reporter): string =>
  `the certificate ${serial.toLowerCase()} of ${reporter.principal} is revoked`;
