import { hash as digest } from 'node:crypto';
import { canonicalJson, canonicalJsonOfParsed, canonicalOrder, misreadableJson } from './canonical.ts';

/**
 * Chain hashes are SHA-256 in unpadded base64url: 43 characters where hex takes 64. Every record
 * carries two, and a record's size is most of what storing it costs (nats-server's work and the
 * writer's grow with its bytes).
 */
export const HASH_LENGTH = 43;

/** The `prev` of a chain's first record (32 zero bytes): no record comes before it. */
export const GENESIS = 'A'.repeat(HASH_LENGTH);

/** Where one record sits in its writer's chain; `hash` covers the whole record except itself. */
export type ChainLink = {
  principal: string;
  instance: string;
  /** 1 for the chain's first record, then one more for each. */
  seq: number;
  /** `hash` of the record before it, `GENESIS` for the first. */
  prev: string;
  hash: string;
};

/** An audit record as stored: an envelope whose data carries its chain link. */
export type ChainedRecord = {
  readonly data: { readonly chain: ChainLink } & Readonly<Record<string, unknown>>;
} & Readonly<Record<string, unknown>>;

/** The writer of a chain, as the subject it is published under names it. */
export type Writer = { principal: string; instance: string };

export const chainKey = (w: Writer): string => `${w.principal}/${w.instance}`;

/**
 * Which kind of audit message a subject holds and whose chain it belongs to, or null: records
 * are `warden.audit.v1.record.<principal>.<instance>`, checkpoints
 * `warden.audit.v1.checkpoint.<principal>.<instance>` (the catalogue in @warden/events defines
 * both; its tests hold the two to the same layout). Here so that reading an export needs nothing
 * but this library.
 */
export function auditSubjectOf(subject: string): { type: 'record' | 'checkpoint'; writer: Writer } | null {
  const tokens = subject.split('.');
  if (tokens.length !== 6 || tokens[0] !== 'warden' || tokens[1] !== 'audit' || tokens[2] !== 'v1')
    return null;
  const [, , , type, principal = '', instance = ''] = tokens;
  if ((type !== 'record' && type !== 'checkpoint') || principal === '' || instance === '') return null;
  return { type, writer: { principal, instance } };
}

// The one-shot `hash` builds no Hash object: noticeably cheaper for records this small.
const sha256 = (text: string): string => digest('sha256', text, 'base64url');

/** SHA-256 (base64url) of the record's canonical JSON, its own `chain.hash` left out. */
export function recordHash(record: ChainedRecord): string {
  const { hash: _own, ...link } = record.data.chain;
  return sha256(canonicalJsonOfParsed({ ...record, data: { ...record.data, chain: link } }));
}

/**
 * Whether a record's text, as `ChainHead.link` wrote and the stream stored it, hashes to `hash`
 * once its own hash member is left out: then it is the very text the writer hashed (SHA-256 has
 * no second preimages), so its parsed record hashes the same and need not be written again.
 * False says nothing: text formatted otherwise (an export passed through another tool) is
 * parsed and canonicalised instead (`parsedRecordHash`).
 */
export function storedTextHashes(text: string, hash: string): boolean {
  const at = text.indexOf(CHAIN_MEMBER);
  const own = `"hash":"${hash}",`;
  if (at < 0 || !text.startsWith(own, at + CHAIN_MEMBER.length)) return false;
  const from = at + CHAIN_MEMBER.length;
  return sha256(text.slice(0, from) + text.slice(from + own.length)) === hash;
}

/** Whether every member of `value` that sorts before `key` is a string, number, boolean or null. */
function onlyScalarsBefore(value: Record<string, unknown>, key: string): boolean {
  for (const k in value) if (k < key && typeof value[k] === 'object' && value[k] !== null) return false;
  return true;
}

/**
 * Where the first `"chain":{` of a record's canonical text is: its `data.chain`, when only
 * scalars sort before `data` in the envelope and before `chain` in `data` (no object comes
 * earlier, and a string cannot hold an unescaped quote). -1 when that does not hold.
 */
function chainAt(record: { data: Record<string, unknown> } & Record<string, unknown>, text: string): number {
  return onlyScalarsBefore(record, 'data') && onlyScalarsBefore(record.data, 'chain')
    ? text.indexOf(CHAIN_MEMBER)
    : -1;
}
const CHAIN_MEMBER = '"chain":{';

/**
 * `recordHash` of a record parsed from stored text, which is the same number: it writes the record
 * as it is (one canonical text, no copies) and leaves the `hash` member out of what it hashes,
 * instead of copying the record without it. This is what the verifier spends its time on.
 */
export function parsedRecordHash(record: ChainedRecord): string {
  const text = canonicalJsonOfParsed(record);
  const at = chainAt(record, text);
  const own = `"hash":${JSON.stringify(record.data.chain.hash)},`;
  // `hash` sorts first among the link's members; otherwise (a record not written by ChainHead)
  // the copying way decides.
  if (at < 0 || !text.startsWith(own, at + CHAIN_MEMBER.length)) return recordHash(record);
  const from = at + CHAIN_MEMBER.length;
  return sha256(text.slice(0, from) + text.slice(from + own.length));
}

/** The members of an audit entry (the `data` of a record, before its link), as `linkEntry` writes them. */
export type EntryParts = {
  action: string;
  actor: string;
  details: Readonly<Record<string, unknown>>;
  kind: string;
  outcome: string;
  target: string;
};

/** Every member name of `EntryParts`: the events catalogue's audit entry must have exactly these. */
export const ENTRY_MEMBERS: readonly (keyof EntryParts)[] = [
  'action',
  'actor',
  'details',
  'kind',
  'outcome',
  'target',
];

/** The envelope's own members, beside `data`. */
export type EnvelopeParts = { id: string; schema: string; source: string; time: string };

/**
 * The head of one writer's chain: the last record appended. `link` gives the next record its
 * place and hash; nothing is sent, so the caller decides how and when it is stored.
 */
export class ChainHead {
  readonly writer: Writer;
  #seq: number;
  #hash: string;

  constructor(writer: Writer, last?: { seq: number; hash: string }) {
    this.writer = writer;
    this.#seq = last?.seq ?? 0;
    this.#hash = last?.hash ?? GENESIS;
  }

  get seq(): number {
    return this.#seq;
  }

  get hash(): string {
    return this.#hash;
  }

  /** Continues from a stored record (a restart, or after a publish that may have been lost). */
  resumeFrom(last: { seq: number; hash: string } | undefined): void {
    this.#seq = last?.seq ?? 0;
    this.#hash = last?.hash ?? GENESIS;
  }

  /**
   * Chains `record` (whose data has no `chain` yet) after the head and moves the head on. Returns
   * the record's canonical JSON with its link, ready to store byte for byte, and the link.
   */
  link(record: { data: Record<string, unknown> } & Record<string, unknown>): {
    text: string;
    chain: ChainLink;
  } {
    const link = this.#nextLink();
    const linked = { ...record, data: { ...record.data, chain: link } };
    return this.#seal(canonicalJson(linked), linked, link);
  }

  /**
   * `link` for a record made of an envelope and an audit entry, the writer's hot path: the record
   * is built with its members already in canonical order, every one a string but the ordered
   * `details` and the link's `seq`, so the engine's `JSON.stringify` writes exactly
   * `canonicalJson`'s text without walking the record first (the walk and its copies were a third
   * of what chaining cost the writer).
   */
  linkEntry(envelope: EnvelopeParts, entry: EntryParts): { text: string; chain: ChainLink } {
    const details = canonicalOrder(entry.details);
    if (details === undefined) return this.link({ ...envelope, data: { ...entry } });
    const link = this.#nextLink();
    const record = {
      data: {
        action: entry.action,
        actor: entry.actor,
        chain: link,
        details,
        kind: entry.kind,
        outcome: entry.outcome,
        target: entry.target,
      },
      id: envelope.id,
      schema: envelope.schema,
      source: envelope.source,
      time: envelope.time,
    };
    return this.#seal(JSON.stringify(record), record, link);
  }

  #nextLink(): Omit<ChainLink, 'hash'> {
    return {
      instance: this.writer.instance,
      prev: this.#hash,
      principal: this.writer.principal,
      seq: this.#seq + 1,
    };
  }

  /** Hashes the canonical text of `linked`, moves the head on and puts the hash into the text. */
  #seal(
    canonical: string,
    linked: { data: Record<string, unknown> } & Record<string, unknown>,
    link: Omit<ChainLink, 'hash'>,
  ): { text: string; chain: ChainLink } {
    // `hash` sorts first in the link, and it goes where the link opens.
    const at = chainAt(linked, canonical);
    if (at < 0)
      throw new TypeError('an audit record may hold only scalars before data.chain in canonical order');
    // Refused here rather than stored where no verifier on this Node.js could check it.
    if (misreadableJson(canonical))
      throw new TypeError(
        'an audit record may not hold a member name of one character that JSON escapes (a quote, a backslash, a control character)',
      );
    const hash = sha256(canonical);
    this.#seq = link.seq;
    this.#hash = hash;
    const from = at + CHAIN_MEMBER.length;
    return {
      text: `${canonical.slice(0, from)}"hash":"${hash}",${canonical.slice(from)}`,
      chain: { hash, ...link },
    };
  }
}
