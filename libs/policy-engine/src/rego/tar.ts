/**
 * Reads one file out of the gzipped tar bundle `opa build` writes. Only what opa emits is
 * supported (ustar headers, regular files); sizes are bounded so a hostile bundle cannot exhaust
 * memory.
 */
import { gunzipSync } from 'node:zlib';
import { RegoToolError } from '../errors.ts';

const block = 512;

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}

/** Returns the content of `wanted` (leading `/` ignored) or throws if absent. */
export function readTarGzEntry(archive: Buffer, wanted: string, maxBytes: number): Buffer {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive, { maxOutputLength: maxBytes });
  } catch (err) {
    throw new RegoToolError(`bundle is not a gzip archive within ${maxBytes} bytes`, { cause: err });
  }
  const target = wanted.replace(/^\/+/, '');
  for (let at = 0; at + block <= tar.length;) {
    const header = tar.subarray(at, at + block);
    if (header.every((b) => b === 0)) break;
    const prefix = field(header, 345, 155);
    const name = (prefix ? `${prefix}/` : '') + field(header, 0, 100);
    const size = Number.parseInt(field(header, 124, 12).trim() || '0', 8);
    if (!Number.isSafeInteger(size) || size < 0) throw new RegoToolError('bundle has a corrupt tar header');
    const start = at + block;
    if (name.replace(/^\/+/, '') === target) return Buffer.from(tar.subarray(start, start + size));
    at = start + Math.ceil(size / block) * block;
  }
  throw new RegoToolError(`bundle has no ${wanted}`);
}
