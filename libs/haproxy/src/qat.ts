import { execFile } from 'node:child_process';

export type QatAvailability = { available: true } | { available: false; reason: string };

/**
 * Whether OpenSSL can load the QAT provider from `providerPath` (`openssl list -providers` with
 * it asked for): the terminator renders the QAT variant only then, and software crypto otherwise.
 */
export function detectQat(providerPath: string, openssl = 'openssl'): Promise<QatAvailability> {
  return new Promise((resolve) => {
    execFile(
      openssl,
      ['list', '-providers', '-provider-path', providerPath, '-provider', 'qatprovider'],
      { timeout: 10_000 },
      (err, stdout, stderr) => {
        if (!err && /qatprovider/i.test(stdout)) resolve({ available: true });
        else {
          const why = `${stderr}`.split('\n').find((l) => l.trim() !== '') ?? err?.message ?? 'not listed';
          resolve({
            available: false,
            reason: `QAT provider not loadable from ${providerPath}: ${why.trim()}`,
          });
        }
      },
    );
  });
}
