import type { ChainLink, ChainedRecord, Writer } from './chain.ts';
import { chainKey, GENESIS, HASH_LENGTH, parsedRecordHash, storedTextHashes } from './chain.ts';
import type { Checkpoint } from './checkpoint.ts';
import { checkpointSignedBy } from './checkpoint.ts';

/** One stored audit message handed to the verifier, in stream (or file) order. */
export type AuditEntry = {
  readonly type: 'record' | 'checkpoint';
  /** The writer its subject names: nats-server let only that principal publish there. */
  readonly writer: Writer;
  /** Where it was found: the stream sequence, or the line of an exported file. */
  readonly position: number;
  readonly event: unknown;
};

export const ProblemKind = {
  /** A record whose content is not what its hash, the next record or a checkpoint commits to. */
  modified: 'modified',
  /** Sequence numbers missing from a chain. */
  deleted: 'deleted',
  /** A record that is not part of its chain: a second record for a sequence number. */
  inserted: 'inserted',
  /** A record stored after one that follows it in its chain. */
  reordered: 'reordered',
  /** A record claiming a writer other than the one its subject names. */
  forged: 'forged',
  /** A checkpoint not signed by its principal's key. */
  forgedCheckpoint: 'forged-checkpoint',
  /** A chain that ends before the last record a valid checkpoint vouches for. */
  truncated: 'truncated',
  /** Something that is not an audit record or checkpoint at all. */
  malformed: 'malformed',
} as const;
export type ProblemKind = (typeof ProblemKind)[keyof typeof ProblemKind];

export type Problem = {
  kind: ProblemKind;
  /** `principal/instance`. */
  chain: string;
  /** The chain sequence numbers concerned: one, or a first and last. */
  seq?: number | readonly [number, number];
  position?: number;
  message: string;
};

export type ChainSummary = {
  chain: string;
  records: number;
  firstSeq: number;
  lastSeq: number;
  /** The last sequence a valid checkpoint vouches for (0: none). */
  checkpointedSeq: number;
  /** Records after it: present, chained, but not yet under a signature. */
  unsignedTail: number;
};

export type VerifyReport = {
  records: number;
  checkpoints: number;
  chains: ChainSummary[];
  problems: Problem[];
  /**
   * What holds but is not proven: each chain's unsigned tail (`unsignedTailNote`). Not problems:
   * a writer that is running always has one.
   */
  notes: string[];
  ok: boolean;
};

/**
 * The records after a chain's last valid checkpoint, in words: they are chained, so none of them
 * can be changed unseen while a later one is there, but no signature covers them, so records
 * after them could have been removed without a trace. Null when a checkpoint covers the chain.
 */
export function unsignedTailNote(c: ChainSummary): string | null {
  if (c.unsignedTail === 0 || c.records === 0) return null;
  // In a time window (`partial`) the chain may begin after the last checkpoint.
  const from = Math.max(c.checkpointedSeq + 1, c.firstSeq);
  const n = c.lastSeq - from + 1;
  const count = `${n} record${n === 1 ? '' : 's'}`;
  const range = n === 1 ? `#${c.lastSeq}` : `#${from}-#${c.lastSeq}`;
  const after = c.checkpointedSeq === 0 ? 'and no checkpoint yet' : `after checkpoint #${c.checkpointedSeq}`;
  return `${c.chain}: unsigned tail of ${count} ${after} (${range}): chained, but not signed, so records written after them could be missing unseen`;
}

export type VerifyOptions = {
  /** Each principal's nkey public key: the only keys checkpoints are accepted from. */
  publicKeys: ReadonlyMap<string, string>;
  /**
   * The input is a time window (an export with `--since`): chains may begin after their first
   * record, and checkpoints about records before the window are not checked against them.
   */
  partial?: boolean;
};

type Chain = {
  key: string;
  seqs: number[];
  /** The hash each record claims (what the next record and checkpoints commit to). */
  hashes: string[];
  prevs: string[];
  positions: number[];
  /** Indexes of records whose content does not match their own hash. */
  altered: Set<number>;
  checkpoints: { cp: Checkpoint; position: number }[];
};

function linkOf(event: unknown): ChainLink | null {
  if (typeof event !== 'object' || event === null) return null;
  const data = (event as { data?: unknown }).data;
  if (typeof data !== 'object' || data === null) return null;
  const c = (data as { chain?: unknown }).chain as Partial<ChainLink> | undefined;
  if (typeof c !== 'object' || c === null) return null;
  return typeof c.principal === 'string' &&
    typeof c.instance === 'string' &&
    Number.isSafeInteger(c.seq) &&
    (c.seq ?? 0) >= 1 &&
    // Only the length: a hash that is not base64url matches no computed hash, and is named there.
    typeof c.prev === 'string' &&
    c.prev.length === HASH_LENGTH &&
    typeof c.hash === 'string' &&
    c.hash.length === HASH_LENGTH
    ? (c as ChainLink)
    : null;
}

function checkpointOf(event: unknown): Checkpoint | null {
  if (typeof event !== 'object' || event === null) return null;
  const cp = (event as { data?: unknown }).data as Partial<Checkpoint> | undefined;
  if (typeof cp !== 'object' || cp === null) return null;
  return typeof cp.principal === 'string' &&
    typeof cp.instance === 'string' &&
    Number.isSafeInteger(cp.seq) &&
    typeof cp.hash === 'string' &&
    typeof cp.at === 'string' &&
    typeof cp.publicKey === 'string' &&
    typeof cp.signature === 'string'
    ? (cp as Checkpoint)
    : null;
}

/**
 * What the verifier keeps of one entry: its link and whether its content still matches its own
 * hash (the costly part, which `digestEntry` does and which may run on worker threads).
 */
export type EntryDigest =
  | { type: 'record'; writer: Writer; position: number; link: ChainLink | null; altered: boolean }
  | { type: 'checkpoint'; writer: Writer; position: number; checkpoint: Checkpoint | null };

/**
 * `storedText`, when the caller has it, is the event's text as stored (the `event` of an export
 * line): a record whose text hashes to its own hash is then not written out again.
 */
export function digestEntry(entry: AuditEntry, storedText?: string): EntryDigest {
  const { writer, position } = entry;
  if (entry.type === 'checkpoint')
    return { type: 'checkpoint', writer, position, checkpoint: checkpointOf(entry.event) };
  const link = linkOf(entry.event);
  return {
    type: 'record',
    writer,
    position,
    link: link && {
      principal: link.principal,
      instance: link.instance,
      seq: link.seq,
      prev: link.prev,
      hash: link.hash,
    },
    altered:
      link !== null &&
      !(storedText !== undefined && storedTextHashes(storedText, link.hash)) &&
      parsedRecordHash(entry.event as ChainedRecord) !== link.hash,
  };
}

/**
 * Checks every writer's chain and checkpoints. Feed it every stored entry in order with `add`,
 * then `finish` names each problem: which chain, which sequence numbers, where they were found.
 * Memory grows with the number of records (a sequence number and two hashes each).
 */
export class AuditVerifier {
  readonly #options: VerifyOptions;
  readonly #chains = new Map<string, Chain>();
  readonly #problems: Problem[] = [];
  #records = 0;
  #checkpoints = 0;
  #lastKey: string | undefined;
  #last: Chain | undefined;

  constructor(options: VerifyOptions) {
    this.#options = options;
  }

  get entries(): number {
    return this.#records + this.#checkpoints;
  }

  /** A line or message that could not even be read as JSON. */
  unreadable(position: number, reason: string): void {
    this.#problems.push({ kind: ProblemKind.malformed, chain: '?', position, message: reason });
  }

  /** `storedText`: the event's text as stored, when the caller has it (see `digestEntry`). */
  add(entry: AuditEntry, storedText?: string): void {
    this.addDigest(digestEntry(entry, storedText));
  }

  /** An entry already digested (`digestEntry`), possibly on another thread. */
  addDigest(d: EntryDigest): void {
    const key = chainKey(d.writer);
    if (d.type === 'checkpoint') {
      this.#checkpoints++;
      if (!d.checkpoint) {
        this.#problems.push({
          kind: ProblemKind.malformed,
          chain: key,
          position: d.position,
          message: 'not a checkpoint',
        });
        return;
      }
      this.#chain(key).checkpoints.push({ cp: d.checkpoint, position: d.position });
      return;
    }
    const link = d.link;
    if (!link) {
      this.#records++;
      this.#problems.push({
        kind: ProblemKind.malformed,
        chain: key,
        position: d.position,
        message: 'not a chained audit record',
      });
      return;
    }
    if (link.principal !== d.writer.principal || link.instance !== d.writer.instance) {
      this.#records++;
      this.#problems.push({
        kind: ProblemKind.forged,
        chain: key,
        seq: link.seq,
        position: d.position,
        message: `record claims to be ${chainKey(link)} #${link.seq} but was written as ${key}`,
      });
      return;
    }
    this.addLink(key, d.position, link.seq, link.prev, link.hash, d.altered);
  }

  /**
   * A record of chain `key` (`principal/instance`), already checked to be written by that chain's
   * writer: the compact form of `addDigest`, for digests sent back by worker threads.
   */
  addLink(key: string, position: number, seq: number, prev: string, hash: string, altered: boolean): void {
    this.#records++;
    if (this.#lastKey !== key || !this.#last) {
      this.#last = this.#chain(key);
      this.#lastKey = key;
    }
    const chain = this.#last;
    if (altered) chain.altered.add(chain.seqs.length);
    chain.seqs.push(seq);
    chain.hashes.push(hash);
    chain.prevs.push(prev);
    chain.positions.push(position);
  }

  finish(): VerifyReport {
    const problems = [...this.#problems];
    const chains: ChainSummary[] = [];
    for (const chain of [...this.#chains.values()].sort((a, b) => a.key.localeCompare(b.key)))
      chains.push(this.#check(chain, problems));
    return {
      records: this.#records,
      checkpoints: this.#checkpoints,
      chains,
      problems,
      notes: chains.map(unsignedTailNote).filter((note) => note !== null),
      ok: problems.length === 0,
    };
  }

  #chain(key: string): Chain {
    let chain = this.#chains.get(key);
    if (!chain) {
      chain = { key, seqs: [], hashes: [], prevs: [], positions: [], altered: new Set(), checkpoints: [] };
      this.#chains.set(key, chain);
    }
    return chain;
  }

  /**
   * Which record holds each sequence number (`indexOf`), and the sequence numbers held, ascending.
   * A second record for a number is an insertion and a record stored after one that follows it a
   * reordering, both reported here. A chain stored whole and in order, as nearly all are, is
   * told by its numbers alone: no map, set or sort over its records.
   */
  #placed(
    chain: Chain,
    vouched: ReadonlyMap<number, Checkpoint>,
    report: (kind: ProblemKind, seq: Problem['seq'], message: string, position?: number) => void,
  ): { indexOf: (seq: number) => number | undefined; seqs: readonly number[] } {
    const first = chain.seqs[0] ?? 0;
    let inOrder = true;
    for (let i = 1; inOrder && i < chain.seqs.length; i++) inOrder = chain.seqs[i] === first + i;
    if (inOrder) {
      const count = chain.seqs.length;
      return {
        indexOf: (seq) => (seq >= first && seq < first + count ? seq - first : undefined),
        seqs: chain.seqs,
      };
    }

    const bySeq = new Map<number, number>();
    const extra: number[] = [];
    for (let i = 0; i < chain.seqs.length; i++) {
      const seq = chain.seqs[i] as number;
      const held = bySeq.get(seq);
      if (held === undefined) bySeq.set(seq, i);
      else extra.push(i);
    }
    for (const i of extra) {
      const seq = chain.seqs[i] as number;
      const held = bySeq.get(seq) as number;
      const next = bySeq.get(seq + 1);
      const committed = vouched.get(seq)?.hash ?? (next === undefined ? undefined : chain.prevs[next]);
      // The genuine one is the one the chain commits to; without a commitment, the first stored.
      const genuine =
        committed !== undefined && chain.hashes[i] === committed && chain.hashes[held] !== committed
          ? i
          : held;
      const intruder = genuine === i ? held : i;
      bySeq.set(seq, genuine);
      report(
        ProblemKind.inserted,
        seq,
        chain.hashes[intruder] === chain.hashes[genuine] && !chain.altered.has(intruder)
          ? `a second copy of record #${seq}`
          : `a record that is not part of the chain claims #${seq}`,
        chain.positions[intruder],
      );
    }
    const genuine = new Set(bySeq.values());

    // Order: a record stored after one that follows it.
    let highest = 0;
    for (let i = 0; i < chain.seqs.length; i++) {
      if (!genuine.has(i)) continue;
      const seq = chain.seqs[i] as number;
      if (seq < highest)
        report(ProblemKind.reordered, seq, `record #${seq} is stored after #${highest}`, chain.positions[i]);
      highest = Math.max(highest, seq);
    }
    return { indexOf: (seq) => bySeq.get(seq), seqs: [...bySeq.keys()].sort((a, b) => a - b) };
  }

  #check(chain: Chain, problems: Problem[]): ChainSummary {
    const report = (kind: ProblemKind, seq: Problem['seq'], message: string, position?: number): void => {
      problems.push({
        kind,
        chain: chain.key,
        ...(seq === undefined ? {} : { seq }),
        ...(position === undefined ? {} : { position }),
        message,
      });
    };
    const principal = chain.key.slice(0, chain.key.indexOf('/'));
    const trusted = this.#options.publicKeys.get(principal);

    // Checkpoints first: a valid one settles which of two records for a sequence number is genuine.
    const vouched = new Map<number, Checkpoint>();
    let checkpointedSeq = 0;
    for (const { cp, position } of chain.checkpoints) {
      const claimsWriter = `${cp.principal}/${cp.instance}` === chain.key;
      if (!claimsWriter || !trusted || !checkpointSignedBy(cp, trusted)) {
        report(
          ProblemKind.forgedCheckpoint,
          cp.seq,
          !claimsWriter
            ? `checkpoint claims to be ${cp.principal}/${cp.instance}'s but was written as ${chain.key}`
            : trusted
              ? `checkpoint for #${cp.seq} is not signed by ${principal}'s key`
              : `no public key for ${principal}: its checkpoint for #${cp.seq} cannot be trusted`,
          position,
        );
        continue;
      }
      vouched.set(cp.seq, cp);
      checkpointedSeq = Math.max(checkpointedSeq, cp.seq);
    }

    const { indexOf, seqs } = this.#placed(chain, vouched, report);
    const firstSeq = seqs[0] ?? 0;
    const lastSeq = seqs.at(-1) ?? 0;
    const from = this.#options.partial ? firstSeq : 1;

    // Gaps, as ranges.
    let expected = from;
    for (const seq of seqs) {
      if (seq > expected)
        report(
          ProblemKind.deleted,
          seq - 1 === expected ? expected : [expected, seq - 1],
          seq - 1 === expected
            ? `record #${expected} is missing`
            : `records #${expected}-#${seq - 1} are missing`,
        );
      expected = seq + 1;
    }

    // Content: a record's own hash, then what the next record and the checkpoints commit to.
    const modified = new Set<number>();
    const modify = (seq: number, why: string): void => {
      if (modified.has(seq)) return;
      modified.add(seq);
      report(ProblemKind.modified, seq, `record #${seq} ${why}`, chain.positions[indexOf(seq) as number]);
    };
    for (const seq of seqs) {
      const i = indexOf(seq) as number;
      if (chain.altered.has(i)) modify(seq, 'does not match its own hash');
    }
    for (const seq of seqs) {
      const i = indexOf(seq) as number;
      if (chain.altered.has(i)) continue;
      if (seq === 1 && !this.#options.partial && chain.prevs[i] !== GENESIS) {
        modify(seq, 'is the first of its chain but links to an earlier record');
        continue;
      }
      const before = indexOf(seq - 1);
      if (before !== undefined && chain.prevs[i] !== chain.hashes[before])
        modify(seq - 1, `is not the record #${seq} was chained to`);
    }
    for (const [seq, cp] of vouched) {
      const i = indexOf(seq);
      if (i !== undefined && chain.hashes[i] !== cp.hash)
        modify(seq, 'is not the record its checkpoint signed');
    }

    if (checkpointedSeq > lastSeq)
      report(
        ProblemKind.truncated,
        [lastSeq + 1, checkpointedSeq],
        `the chain ends at #${lastSeq} but a checkpoint vouches for records up to #${checkpointedSeq}`,
      );

    return {
      chain: chain.key,
      records: chain.seqs.length,
      firstSeq,
      lastSeq,
      checkpointedSeq,
      unsignedTail: Math.max(0, lastSeq - checkpointedSeq),
    };
  }
}
