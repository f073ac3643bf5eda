import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.ts';

/** The `prev` of a chain's first record: no record comes before it. */
export const GENESIS = '0'.repeat(64);

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

/** SHA-256 (hex) of the record's canonical JSON, its own `chain.hash` left out. */
export function recordHash(record: ChainedRecord): string {
  const { hash: _own, ...link } = record.data.chain;
  const unhashed = { ...record, data: { ...record.data, chain: link } };
  return createHash('sha256').update(canonicalJson(unhashed)).digest('hex');
}

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
   * Chains `record` (whose data has no `chain` yet) after the head: returns it with its link
   * and moves the head on.
   */
  link<R extends { data: Record<string, unknown> } & Record<string, unknown>>(
    record: R,
  ): R & { data: R['data'] & { chain: ChainLink } } {
    const chain: ChainLink = { ...this.writer, seq: this.#seq + 1, prev: this.#hash, hash: '' };
    const chained = { ...record, data: { ...record.data, chain } };
    chain.hash = recordHash(chained);
    this.#seq = chain.seq;
    this.#hash = chain.hash;
    return chained;
  }
}
