import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager, PubAck } from '@nats-io/jetstream';
import { ChainHead } from '@warden/audit';
import type { CheckpointSigner, Writer } from '@warden/audit';
import type { z } from 'zod';
import type { Bus, BusLogger } from './bus.ts';
import { audit, auditCheckpoint, auditEntry } from './catalog.ts';
import { StreamName, subjectOf } from './define.ts';
import { EventsError, InvalidPayloadError } from './errors.ts';
import type { BusMetrics } from './metrics.ts';
import { isNoResponders, isStreamNotFound } from './nats-errors.ts';
import { compileValidator } from './validate.ts';

export type AuditEntryInput = z.input<typeof auditEntry>;
type AuditEntry = z.output<typeof auditEntry>;

export type AuditWriterOptions = {
  /** The principal this connection authenticates as: nats-server allows it only its own prefix. */
  principal: string;
  /** Signs checkpoints with the principal's nkey; without it (no authentication) none are written. */
  signer?: CheckpointSigner;
  /** A checkpoint after this many records (default 1000)... */
  checkpointEvery?: number;
  /** ...or this long after the first record it does not cover yet (default 60 s). */
  checkpointIntervalMs?: number;
};

const validateEntry = compileValidator(auditEntry);

/** A subject token from an instance name (hostnames have dots). */
export const writerToken = (name: string): string => name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128);

/**
 * Appends this instance's audit records to its own hash chain (ARCHITECTURE §7). Records are
 * linked in the order `append` is called and published in that order without waiting for each
 * ack. Each record's JetStream message id is its place in the chain, so a publish retried (by
 * nats.js, or by a second process that took the same instance name) is stored once and a fork
 * is refused by the server. Before its first record, and after any failed publish, the writer
 * reads its chain's last stored record and continues from it.
 */
export class AuditWriter {
  readonly writer: Writer;
  readonly #bus: Bus;
  readonly #log: BusLogger;
  readonly #metrics: BusMetrics;
  /** The `stored` counter, its label looked up once rather than on every record. */
  readonly #stored: { inc(): void };
  readonly #signer: CheckpointSigner | undefined;
  readonly #every: number;
  readonly #intervalMs: number;
  readonly #head: ChainHead;
  #synced: Promise<void> | undefined;
  /** The head is read and no append is still waiting for it: appends link without a pause. */
  #ready = false;
  #waiting = 0;
  #jsm: JetStreamManager | undefined;
  /** Records and checkpoints published and not yet acknowledged, and who waits for none. */
  #inflight = 0;
  readonly #drainWaiters: (() => void)[] = [];
  #checkpointedSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #warnedUnsigned = false;

  constructor(bus: Bus, source: string, options: AuditWriterOptions, log: BusLogger, metrics: BusMetrics) {
    this.#bus = bus;
    this.#log = log;
    this.#metrics = metrics;
    this.#stored = metrics.auditRecords.labels({ outcome: 'stored' });
    this.writer = { principal: options.principal, instance: writerToken(source) };
    this.#signer = options.signer;
    this.#every = options.checkpointEvery ?? 1000;
    this.#intervalMs = options.checkpointIntervalMs ?? 60_000;
    this.#head = new ChainHead(this.writer);
  }

  /** The last sequence number given out (0 before the first record). */
  get seq(): number {
    return this.#head.seq;
  }

  /**
   * Not async itself, and what waits for the ack holds only the record's place: the record's
   * text and entry are not kept alive by a suspended frame while up to hundreds are in flight.
   */
  append(data: AuditEntryInput): Promise<PubAck> {
    if (this.#closed) return Promise.reject(new EventsError('audit_closed', 'the audit writer is closed'));
    const parsed = validateEntry(data);
    if (!parsed.ok) {
      this.#metrics.invalid.inc({ schema: audit.schema, direction: 'out', reason: 'schema' });
      return Promise.reject(new InvalidPayloadError(audit.schema, parsed.issues));
    }
    if (!this.#ready || this.#waiting > 0) return this.#appendWhenSynced(parsed.value);
    try {
      return this.#acked(this.#send(parsed.value));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  async #appendWhenSynced(entry: AuditEntry): Promise<PubAck> {
    // Appends that wait resume in call order; later ones wait behind them until all have run.
    this.#waiting++;
    try {
      await this.#sync();
    } finally {
      this.#waiting--;
    }
    return this.#acked(this.#send(entry));
  }

  /**
   * Links the entry after the head and publishes it. Nothing here awaits: records are linked and
   * sent in call order, and the text is stored exactly as it was hashed.
   */
  #send(entry: AuditEntry): { seq: number; published: Promise<PubAck> } {
    const { text, chain } = this.#head.linkEntry(
      { id: randomUUID(), schema: audit.schema, source: this.#bus.source, time: new Date().toISOString() },
      entry,
    );
    const seq = chain.seq;
    const published = this.#bus.publishEncoded(audit, text, {
      qualifiers: this.writer,
      msgId: `${this.writer.principal}.${this.writer.instance}.${seq}`,
    });
    this.#inflight++;
    if (seq - this.#checkpointedSeq >= this.#every) this.#checkpoint('count');
    else this.#timer ??= setTimeout(() => this.#checkpoint('interval'), this.#intervalMs).unref();
    return { seq, published };
  }

  async #acked({ seq, published }: { seq: number; published: Promise<PubAck> }): Promise<PubAck> {
    let ack: PubAck;
    try {
      ack = await published;
    } catch (err) {
      this.#metrics.auditRecords.inc({ outcome: 'failed' });
      this.#resync(`record #${seq} may not be stored`, err);
      throw err;
    } finally {
      this.#settled();
    }
    if (ack.duplicate) {
      // Another record holds this place: a second process writes under this instance name.
      this.#metrics.auditRecords.inc({ outcome: 'conflict' });
      this.#resync(`record #${seq} of ${this.writer.instance} was already stored by another writer`);
      throw new EventsError(
        'audit_conflict',
        `audit record #${seq} of ${this.writer.principal}/${this.writer.instance} was already written by another process under the same instance name`,
      );
    }
    this.#stored.inc();
    return ack;
  }

  /** Waits for every record in flight, then signs the head of the chain (a clean stop). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#drained();
    this.#checkpoint('stop');
    await this.#drained();
  }

  #settled(): void {
    if (--this.#inflight === 0) for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  /** Resolves once nothing is in flight (at once if nothing is). */
  #drained(): Promise<void> {
    return this.#inflight === 0
      ? Promise.resolve()
      : new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Reads the chain's last stored record once (again after a failure) and continues from it. */
  #sync(): Promise<void> {
    this.#synced ??= (async () => {
      await this.#drained();
      this.#jsm ??= await jetstreamManager(this.#bus.nc);
      const last = await this.#jsm.direct.getMessage(StreamName.audit, {
        last_by_subj: subjectOf(audit, this.writer),
      });
      if (!last) {
        this.#head.resumeFrom(undefined);
        this.#checkpointedSeq = 0;
        this.#ready = true;
        return;
      }
      const stored = audit.validateEnvelope(last.json());
      if (!stored.ok)
        throw new EventsError(
          'audit_head_unreadable',
          `the last audit record of ${this.writer.principal}/${this.writer.instance} (#${last.seq}) is not a valid record: ${stored.issues.join('; ')}`,
        );
      this.#head.resumeFrom(stored.value.data.chain);
      // Whatever of it no checkpoint covered yet, the next one will: it signs the whole chain.
      this.#checkpointedSeq = stored.value.data.chain.seq;
      this.#ready = true;
      this.#log.info(
        { chain: `${this.writer.principal}/${this.writer.instance}`, seq: stored.value.data.chain.seq },
        'audit chain continues from its last stored record',
      );
    })().catch((err: unknown) => {
      this.#synced = undefined;
      if (isNoResponders(err) || isStreamNotFound(err))
        throw new EventsError(
          'no_stream',
          `cannot read the head of ${this.writer.principal}/${this.writer.instance}'s audit chain: ${StreamName.audit} does not exist yet (its owner, the enforcer, creates it)`,
          { cause: err },
        );
      throw err;
    });
    return this.#synced;
  }

  #resync(why: string, err?: unknown): void {
    this.#log.warn(
      { err, chain: `${this.writer.principal}/${this.writer.instance}` },
      `${why}; re-reading the chain's head`,
    );
    this.#synced = undefined;
    this.#ready = false;
  }

  #checkpoint(reason: 'count' | 'interval' | 'stop'): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const seq = this.#head.seq;
    // Nothing new to sign, or the head is in doubt (a publish failed; the next append re-reads it).
    if (seq === 0 || seq <= this.#checkpointedSeq || this.#synced === undefined) return;
    if (!this.#signer) {
      if (!this.#warnedUnsigned)
        this.#log.warn({}, 'no nkey seed: audit checkpoints are not written (run with authentication)');
      this.#warnedUnsigned = true;
      return;
    }
    this.#checkpointedSeq = seq;
    const data = this.#signer.sign({
      ...this.writer,
      seq,
      hash: this.#head.hash,
      at: new Date().toISOString(),
      reason,
    });
    this.#inflight++;
    void this.#bus
      .publish(auditCheckpoint, data, {
        qualifiers: this.writer,
        id: `checkpoint.${this.writer.principal}.${this.writer.instance}.${seq}`,
      })
      .then(
        () => this.#metrics.auditCheckpoints.inc({ reason }),
        (err: unknown) => {
          this.#metrics.auditCheckpoints.inc({ reason: 'failed' });
          this.#log.warn({ err, seq }, 'could not write an audit checkpoint; the next one covers it');
          if (this.#checkpointedSeq === seq) this.#checkpointedSeq = seq - 1;
        },
      )
      .finally(() => this.#settled());
  }
}
