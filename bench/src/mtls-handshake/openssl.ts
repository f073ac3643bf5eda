/**
 * The openssl command line the mtls-handshake benchmark compares with: `s_time` as a client and
 * `s_server` as a server, with the run's trust material (fixtures.ts).
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '@warden/infra';
import type { Figures } from '../benchmark.ts';
import { microsSince, round } from '../benchmark.ts';
import { TUNED_GROUPS, TUNED_SUITES } from '../mtls-handshake-profiles.ts';
import { HOST } from '../mtls-handshake-server.ts';
import { GET_PATH } from './fixtures.ts';
import type { Files } from './fixtures.ts';
import { stopChild } from './servers.ts';

export const OPENSSL = '/usr/bin/openssl';

type STime = { connections: number; wallSeconds: number; userSeconds: number; reusedMarks: number };

/**
 * `openssl s_time` for `seconds`; the rate is connections over the process's wall time. With
 * `-reuse` it resumes the first connection's session on every later one, but on TLS 1.3 the ticket
 * arrives after the handshake and s_time only reads it when it fetches a page: `-reuse` without
 * `-www` never resumes (every connection is full), so the resumed reference is `-reuse -www`.
 */
export function sTime(
  port: number,
  files: Pick<Files, 'clientCert' | 'clientKey' | 'caBundle'>,
  mode: '-new' | '-reuse',
  seconds: number,
  get: boolean,
) {
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

export function sTimeFigures(prefix: string, run: STime): Figures {
  const perSec = run.connections / run.wallSeconds;
  return {
    [`${prefix}ConnectionsPerSec`]: round(perSec, 0),
    [`${prefix}MeanMicros`]: round(1e6 / perSec),
    [`${prefix}Connections`]: run.connections,
    [`${prefix}ConnectionsPerUserSec`]: round(run.connections / run.userSeconds, 0),
    [`${prefix}Resumed`]: run.reusedMarks,
  };
}

/**
 * `openssl s_server` with the server's SVID and the tuned groups and suites (its own order wins,
 * as the Node server's does), requiring a client certificate from the root, serving GET /ok.
 */
export async function startSServer(files: Files): Promise<{ port: number; child: ChildProcess }> {
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
