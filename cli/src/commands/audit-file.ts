import { statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  auditSubjectOf,
  chainKey,
  digestEntry,
  HASH_LENGTH,
  MISREADABLE,
  misreadableJson,
} from '@warden/audit';
import type { AuditVerifier, EntryDigest } from '@warden/audit';
import { messageOf } from '@warden/core';

/** A slice of an exported file: whole lines, as bytes. */
export type DigestRequest = { index: number; bytes: Uint8Array };

/**
 * What the verifier keeps of a slice, compact enough to cross threads cheaply: the ordinary
 * records as columns (one string each for chain keys, previous and own hashes), everything else
 * (checkpoints, forged or malformed records, unreadable lines) as it is. Positions are line
 * numbers within the slice, from 1.
 */
export type DigestReply = {
  index: number;
  lines: number;
  keys: string;
  prevs: string;
  hashes: string;
  seqs: Float64Array;
  positions: Float64Array;
  altered: Uint8Array;
  others: EntryDigest[];
  unreadable: { position: number; reason: string }[];
};

const EVENT_MEMBER = '"event":';

/**
 * The text of a line's `event` as written, when the line ends with it (`warden audit export`
 * writes it last): what the writer hashed, unless the file was changed. If that is the text, the
 * line is its header's members followed by it, so it is also what JSON.parse read as `event`.
 */
function storedEventText(line: string): string | undefined {
  const at = line.indexOf(EVENT_MEMBER);
  return at < 0 || !line.endsWith('}') ? undefined : line.slice(at + EVENT_MEMBER.length, -1);
}

/** Digests every line of a slice of an export (`warden audit export`'s JSON Lines). */
export function digestLines({ index, bytes }: DigestRequest): DigestReply {
  const lines = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').split('\n');
  const keys: string[] = [];
  const prevs: string[] = [];
  const hashes: string[] = [];
  const seqs = new Float64Array(lines.length);
  const positions = new Float64Array(lines.length);
  const altered = new Uint8Array(lines.length);
  const others: EntryDigest[] = [];
  const unreadable: DigestReply['unreadable'] = [];
  // A few writers' subjects, over and over: each is taken apart once.
  const subjects = new Map<string, ReturnType<typeof auditSubjectOf>>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    const position = i + 1;
    if (misreadableJson(line)) {
      unreadable.push({ position, reason: MISREADABLE });
      continue;
    }
    let parsed: { subject?: unknown; event?: unknown };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch (err) {
      unreadable.push({ position, reason: `not JSON: ${messageOf(err)}` });
      continue;
    }
    let kind: ReturnType<typeof auditSubjectOf> = null;
    if (typeof parsed?.subject === 'string') {
      kind = subjects.get(parsed.subject) ?? auditSubjectOf(parsed.subject);
      if (subjects.size < 1024) subjects.set(parsed.subject, kind);
    }
    if (!kind) {
      unreadable.push({ position, reason: 'not an exported audit line (no audit subject)' });
      continue;
    }
    const digest = digestEntry(
      { type: kind.type, writer: kind.writer, position, event: parsed.event },
      storedEventText(line),
    );
    const link = digest.type === 'record' ? digest.link : null;
    if (
      digest.type === 'record' &&
      link &&
      link.principal === kind.writer.principal &&
      link.instance === kind.writer.instance
    ) {
      const n = keys.length;
      keys.push(chainKey(kind.writer));
      prevs.push(link.prev);
      hashes.push(link.hash);
      seqs[n] = link.seq;
      positions[n] = position;
      altered[n] = digest.altered ? 1 : 0;
    } else others.push(digest);
  }
  const n = keys.length;
  return {
    index,
    lines: lines.length,
    keys: keys.join('\n'),
    prevs: prevs.join(''),
    hashes: hashes.join(''),
    seqs: seqs.slice(0, n),
    positions: positions.slice(0, n),
    altered: altered.slice(0, n),
    others,
    unreadable,
  };
}

/** Below this, starting worker threads costs more than it saves. */
const PARALLEL_FROM_BYTES = 8 * 1024 ** 2;
const SLICE_BYTES = 1024 ** 2;
const NEWLINE = 0x0a;

/**
 * Feeds an exported file to `verifier` in file order, calling `onRecords` with how many records
 * each slice held. A large file is digested (parsed, canonicalised, hashed) by worker threads,
 * one per core (at most four), slice by slice, while this thread reads ahead and keeps the order.
 */
export async function verifyFile(
  path: string,
  verifier: AuditVerifier,
  onRecords: (count: number) => void,
  parallelFromBytes = PARALLEL_FROM_BYTES,
): Promise<void> {
  const file = await open(path, 'r');
  const threads = Math.min(4, availableParallelism());
  const parallel = threads > 1 && statSync(path).size >= parallelFromBytes;
  const workers = parallel
    ? Array.from({ length: threads }, () => new Worker(new URL('./audit-digest-worker.ts', import.meta.url)))
    : [];
  const pending = new Map<number, DigestReply>();
  let next = 0;
  let lineOffset = 0;
  const apply = (reply: DigestReply): void => {
    pending.set(reply.index, reply);
    for (let ready = pending.get(next); ready; ready = pending.get(next)) {
      pending.delete(next++);
      const keys = ready.keys === '' ? [] : ready.keys.split('\n');
      for (let i = 0; i < keys.length; i++) {
        verifier.addLink(
          keys[i] as string,
          lineOffset + (ready.positions[i] as number),
          ready.seqs[i] as number,
          ready.prevs.slice(i * HASH_LENGTH, (i + 1) * HASH_LENGTH),
          ready.hashes.slice(i * HASH_LENGTH, (i + 1) * HASH_LENGTH),
          ready.altered[i] === 1,
        );
      }
      for (const digest of ready.others)
        verifier.addDigest({ ...digest, position: lineOffset + digest.position });
      for (const u of ready.unreadable) verifier.unreadable(lineOffset + u.position, u.reason);
      onRecords(keys.length + ready.others.length);
      lineOffset += ready.lines - 1;
    }
  };
  let failure: unknown;
  let inFlight = 0;
  let wake: () => void = () => undefined;
  for (const worker of workers) {
    worker.on('message', (reply: DigestReply) => {
      inFlight--;
      apply(reply);
      wake();
    });
    worker.on('error', (err) => {
      failure ??= err;
      wake();
    });
  }
  const send = async (request: DigestRequest): Promise<void> => {
    if (!parallel) {
      apply(digestLines(request));
      return;
    }
    // Two slices per worker in flight: enough to keep them busy, little held in memory.
    while (inFlight >= 2 * workers.length && failure === undefined)
      await new Promise<void>((resolve) => (wake = resolve));
    if (failure !== undefined) throw failure;
    inFlight++;
    const bytes = request.bytes;
    workers[request.index % workers.length]?.postMessage(request, [bytes.buffer as ArrayBuffer]);
  };
  try {
    let carry: Buffer = Buffer.alloc(0);
    let index = 0;
    for (;;) {
      // Each slice is read into memory of its own, after the partial line the last one left, so
      // it is handed over to a worker as it is: the only bytes copied are that partial line.
      const bytes = Buffer.allocUnsafeSlow(carry.length + SLICE_BYTES);
      carry.copy(bytes);
      const { bytesRead } = await file.read(bytes, carry.length, SLICE_BYTES, null);
      const end = carry.length + bytesRead;
      if (bytesRead === 0) {
        if (end > 0) await send({ index: index++, bytes: bytes.subarray(0, end) });
        break;
      }
      const cut = bytes.lastIndexOf(NEWLINE, end - 1);
      if (cut < 0) {
        carry = bytes.subarray(0, end);
        continue;
      }
      carry = Buffer.from(bytes.subarray(cut + 1, end));
      await send({ index: index++, bytes: bytes.subarray(0, cut + 1) });
    }
    while (next < index && failure === undefined) await new Promise<void>((resolve) => (wake = resolve));
    if (failure !== undefined) throw failure;
  } finally {
    await file.close();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
