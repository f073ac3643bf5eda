import { InputTooLargeError, MalformedInputError } from './errors.ts';

/** PEM encoding and decoding with explicit limits: every PEM reaching the CA comes from outside. */

export function toPem(label: string, der: Uint8Array | ArrayBuffer): string {
  const body = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export type PemLimits = { maxBytes: number; maxBlocks: number };

/**
 * The DER bytes of every block labelled `label`, in order. Refuses input over `maxBytes`, more
 * than `maxBlocks` blocks, a block with another label, text outside blocks other than
 * whitespace, and bad base64.
 */
export function decodePem(text: string, label: string, what: string, limits: PemLimits): Buffer[] {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) throw new InputTooLargeError(what, bytes, limits.maxBytes);
  const blocks: Buffer[] = [];
  let last = 0;
  for (const match of text.matchAll(BLOCK)) {
    if (text.slice(last, match.index).trim() !== '')
      throw new MalformedInputError(what, 'text outside PEM blocks');
    last = match.index + match[0].length;
    if (match[1] !== label)
      throw new MalformedInputError(what, `expected PEM ${label}, found ${match[1] ?? '?'}`);
    const body = (match[2] ?? '').replace(/\s+/g, '');
    if (!BASE64.test(body) || body.length % 4 !== 0)
      throw new MalformedInputError(what, 'PEM body is not base64');
    blocks.push(Buffer.from(body, 'base64'));
    if (blocks.length > limits.maxBlocks)
      throw new MalformedInputError(what, `more than ${limits.maxBlocks} PEM blocks`);
  }
  if (text.slice(last).trim() !== '') throw new MalformedInputError(what, 'text outside PEM blocks');
  if (blocks.length === 0) throw new MalformedInputError(what, `no PEM ${label} block`);
  return blocks;
}
