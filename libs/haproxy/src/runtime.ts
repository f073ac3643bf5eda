import { connect } from 'node:net';
import { WardenError } from '@warden/core';

/** A runtime API command HAProxy refused or could not complete. */
export class HaproxyRuntimeError extends WardenError {}

/**
 * One command on HAProxy's runtime API socket (non-interactive: HAProxy answers, then closes).
 * A payload (`<<`) is sent after the command line and ends with an empty line.
 */
export function runtimeCommand(
  socket: string,
  command: string,
  payload?: string,
  timeoutMs = 5000,
): Promise<string> {
  if (/[\r\n]/.test(command))
    throw new HaproxyRuntimeError('invalid_command', 'a runtime command is one line');
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      conn.destroy();
      reject(
        new HaproxyRuntimeError(
          'timeout',
          `HAProxy did not answer "${command.split(' ', 3).join(' ')}" within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    conn.on('connect', () => {
      conn.write(payload === undefined ? `${command}\n` : `${command} <<\n${payload.trimEnd()}\n\n`);
    });
    conn.on('data', (chunk: Buffer) => chunks.push(chunk));
    conn.on('error', (cause) => {
      clearTimeout(timer);
      reject(
        new HaproxyRuntimeError('unreachable', `HAProxy's runtime API at ${socket}: ${cause.message}`, {
          cause,
        }),
      );
    });
    conn.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8').trim());
    });
  });
}

/** Runs a command whose success HAProxy answers with an empty reply or one of `ok`. */
async function expect(socket: string, command: string, ok: RegExp | null, payload?: string): Promise<string> {
  const reply = await runtimeCommand(socket, command, payload);
  if (ok === null ? reply !== '' : !ok.test(reply))
    throw new HaproxyRuntimeError('refused', `HAProxy refused "${command}": ${reply || '(no answer)'}`);
  return reply;
}

/** Adds (or, if present, replaces) a map entry: takes effect for the next request. */
export async function putMapEntry(socket: string, map: string, key: string, value: string): Promise<void> {
  if (/\s/.test(key) || /\s/.test(value) || key === '')
    throw new HaproxyRuntimeError(
      'invalid_entry',
      `a map key and value may not contain spaces: ${JSON.stringify(key)}`,
    );
  const shown = await runtimeCommand(socket, `get map ${map} ${key}`);
  if (/match=yes/.test(shown) && new RegExp(`key="${escape(key)}"`).test(shown))
    await expect(socket, `set map ${map} ${key} ${value}`, null);
  else await expect(socket, `add map ${map} ${key} ${value}`, null);
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Removes a map entry; an absent one is not an error (the state wanted holds). */
export async function deleteMapEntry(socket: string, map: string, key: string): Promise<void> {
  const reply = await runtimeCommand(socket, `del map ${map} ${key}`);
  if (reply !== '' && !/not found/i.test(reply))
    throw new HaproxyRuntimeError('refused', `HAProxy refused "del map ${map} ${key}": ${reply}`);
}

/** The keys of a map, as HAProxy holds them now. */
export async function mapKeys(socket: string, map: string): Promise<string[]> {
  const reply = await runtimeCommand(socket, `show map ${map}`);
  return reply
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[1])
    .filter((key): key is string => key !== undefined && key !== '');
}

/** Replaces a served certificate (chain and key in one PEM) and commits it: no reload, no drop. */
export async function replaceCertificate(socket: string, file: string, pem: string): Promise<void> {
  await expect(socket, `set ssl cert ${file}`, /Transaction (created|updated)/i, pem);
  await expect(socket, `commit ssl cert ${file}`, /Success/i);
}
