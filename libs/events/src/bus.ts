import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type {
  ConsumerConfig,
  ConsumerMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
  PubAck,
} from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { Backoff, codeOf, messageOf, pause } from '@warden/core';
import type { DataOf, EventDef, ReplyOf, RequestDef } from './define.ts';
import { filterOf, matchesEvent, subjectOf } from './define.ts';
import type { Envelope } from './envelope.ts';
import { newEnvelope } from './envelope.ts';
import {
  EventsError,
  InvalidPayloadError,
  PayloadTooLargeError,
  RemoteError,
  RequestTimeoutError,
} from './errors.ts';
import type { AuditEntryInput, AuditWriterOptions } from './audit-writer.ts';
import { AuditWriter } from './audit-writer.ts';
import type { BusMetrics } from './metrics.ts';
import { createBusMetrics } from './metrics.ts';
import { isConsumerNotFound, isNoResponders, isPermissionDenied, isStreamNotFound } from './nats-errors.ts';
import type { Validator } from './validate.ts';

/** The logging surface the bus needs; a pino logger fits it. */
export type BusLogger = {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

const silentLogger: BusLogger = { debug() {}, info() {}, warn() {}, error() {} };

export type BusOptions = {
  /** This service instance, written into every envelope's `source`. */
  source: string;
  logger?: BusLogger;
  metrics?: BusMetrics;
  /** Largest encoded message accepted either way; defaults to 1 MiB, nats-server's default max_payload. */
  maxPayloadBytes?: number;
  /** Who this connection writes the audit log as; without it `audit()` is refused. */
  audit?: AuditWriterOptions;
};

export type PublishOptions<Q extends string> = {
  qualifiers?: Record<Q, string>;
  /** Milliseconds to wait for the JetStream ack. */
  timeoutMs?: number;
  /** The event id, when the caller must know it first (to match a reply event to its request). */
  id?: string;
};

export type ConsumeOptions<Q extends string> = {
  /** Durable consumer name; every instance of a service shares it, so each event is handled once. */
  durable: string;
  filter?: Partial<Record<Q, string>>;
  /** Where a new durable starts; an existing one resumes where it stopped. */
  deliver?: 'all' | 'new';
  /** Deliveries before a failing event is given up on (and logged). */
  maxDeliver?: number;
  ackWaitMs?: number;
  /**
   * Events handed out and not yet acknowledged, across every instance sharing the durable. 1
   * makes the instances take turns: one event at a time in the whole deployment.
   */
  maxAckPending?: number;
  /** Delay before a failed event is delivered again. */
  retryDelayMs?: number;
  /**
   * Called for a stored message that can never be handled (too large, not JSON, failing the
   * schema) after it is terminated, so the service can answer its sender (a `rejected` event).
   * An error it throws is logged; the message stays terminated.
   */
  onInvalid?: (invalid: InvalidMessage) => Promise<void> | void;
};

/** A stored message that failed validation: why, and what identifies it to its sender. */
export type InvalidMessage = {
  subject: string;
  reason: 'too_large' | 'not_json' | 'schema';
  issues: readonly string[];
  /** The envelope's `id` when the message has a usable one, else its `Nats-Msg-Id` header. */
  id?: string;
  /** Its sequence number in the stream. */
  seq: number;
};

export type Handler<T> = (event: Envelope<T>, subject: string) => Promise<void> | void;

export type RunningConsumer = {
  /** Stops pulling (or waiting for the stream); in-flight handlers finish first. */
  stop(): Promise<void>;
  /** Resolves when the consumer stops. */
  readonly closed: Promise<void>;
  /**
   * Resolves once the consumer is attached to its stream: at once for a stream that exists,
   * later for one that another service has yet to provision. Never rejects; a consumer stopped
   * before its stream appeared leaves it pending.
   */
  readonly attached: Promise<void>;
};

/** A handler for one stored event type during `Bus.replay`. */
export type ReplayHandler = {
  readonly def: EventDef<unknown, string>;
  /** The subject filter to read (`filterOf` the def, narrowed by qualifier values). */
  readonly subject: string;
  handle(event: Envelope<unknown>, stored: { subject: string; seq: number }): Promise<void> | void;
};

/**
 * Pairs an event type with its handler for `Bus.replay`, keeping the payload's type; `filter`
 * narrows it to some qualifier values (the server then sends only those subjects).
 */
export function onReplay<E extends EventDef<unknown, string>>(
  def: E,
  handle: (event: Envelope<DataOf<E>>, stored: { subject: string; seq: number }) => Promise<void> | void,
  filter: Partial<Record<E['qualifiers'][number], string>> = {},
): ReplayHandler {
  return { def, subject: filterOf(def, filter), handle: handle as ReplayHandler['handle'] };
}

/** One message as a stream stores it, for `Bus.scan`. */
export type StoredMessage = { subject: string; seq: number; storedAt: Date; data: Uint8Array };

export type ReplayResult = {
  /** Valid events handed to a handler. */
  applied: number;
  /** Messages that failed their schema: logged, counted, skipped. */
  invalid: number;
  /** The stream's last sequence when the replay started: everything up to it was read. */
  lastSeq: number;
  ms: number;
};

/** How long a consumer waits between attempts to attach to a stream that does not exist yet. */
const STREAM_WAIT = { initialMs: 250, maxMs: 15_000 };

type HandlingOptions = {
  retryDelayMs: number;
  maxDeliver: number;
  ackWaitMs: number;
  onInvalid?: ConsumeOptions<string>['onInvalid'];
};

type ReplyWire<T> =
  | { id: string; time: string; source: string; schema: string; ok: true; data: T }
  | {
      id: string;
      time: string;
      source: string;
      schema: string;
      ok: false;
      error: { code: string; message: string };
    };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The typed, validating bus every service uses. Publishing validates against the subject's
 * schema and refuses a bad payload; receiving validates again and terminates (never redelivers)
 * a bad message, counting it and logging the subject and the reason.
 */
export class Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly metrics: BusMetrics;
  /** This service instance, as every envelope's `source` names it. */
  readonly source: string;
  private readonly log: BusLogger;
  private readonly maxPayload: number;
  private readonly auditWriter: AuditWriter | undefined;

  constructor(nc: NatsConnection, options: BusOptions) {
    this.nc = nc;
    this.js = jetstream(nc);
    this.source = options.source;
    this.log = options.logger ?? silentLogger;
    this.metrics = options.metrics ?? createBusMetrics();
    this.maxPayload = options.maxPayloadBytes ?? 1024 * 1024;
    this.auditWriter = options.audit
      ? new AuditWriter(this, this.source, options.audit, this.log, this.metrics)
      : undefined;
  }

  /**
   * Appends one record to this instance's audit chain (`warden.audit.v1.record.<principal>.<instance>`),
   * resolving once it is stored. The only way services write the audit log.
   */
  audit(entry: AuditEntryInput): Promise<PubAck> {
    if (!this.auditWriter)
      return Promise.reject(
        new EventsError(
          'audit_unconfigured',
          'this bus was created without an audit writer (BusOptions.audit)',
        ),
      );
    // Not async: one promise less per record, on the path the audit-append benchmark measures.
    return this.auditWriter.append(entry);
  }

  /** Waits for audit records in flight and signs the chain's head: part of a clean stop. */
  async closeAudit(): Promise<void> {
    await this.auditWriter?.close();
  }

  /**
   * Stores an envelope the caller encoded and checked itself, byte for byte: the audit chain
   * hashes exactly the text that is stored. `msgId` is the de-duplication id.
   */
  publishEncoded<E extends EventDef<unknown, string>>(
    def: E,
    text: string,
    options: { qualifiers: Record<E['qualifiers'][number], string>; msgId: string; timeoutMs?: number },
  ): Promise<PubAck> {
    // Not async, so that the ack reaches the audit writer without two more turns of the queue.
    let subject: string;
    let payload: Buffer;
    try {
      subject = subjectOf(def, options.qualifiers);
      if (def.stream === null) throw new EventsError('not_stored', `${def.schema} is not stored`);
      // Buffer.from encodes a short string several times faster than TextEncoder, to the same bytes.
      payload = Buffer.from(text, 'utf8');
      if (payload.byteLength > this.maxPayload)
        throw new PayloadTooLargeError(subject, payload.byteLength, this.maxPayload);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.store(def, subject, payload, options.msgId, options.timeoutMs);
  }

  /** Validates and publishes one event; resolves with the JetStream ack for stored events. */
  async publish<E extends EventDef<unknown, string>>(
    def: E,
    data: DataOf<E>,
    options: PublishOptions<E['qualifiers'][number]> = {},
  ): Promise<PubAck | undefined> {
    const subject = subjectOf(def, options.qualifiers);
    const envelope = newEnvelope(
      def.schema,
      this.source,
      this.validateOut(def.schema, def.validateData, data),
    );
    if (options.id !== undefined) envelope.id = options.id;
    return this.storeOrExplain(def, subject, this.encode(subject, envelope), envelope.id, options.timeoutMs);
  }

  private storeOrExplain(
    def: EventDef<unknown, string>,
    subject: string,
    payload: Uint8Array,
    msgId: string,
    timeoutMs?: number,
  ): Promise<PubAck | undefined> {
    if (def.stream === null) {
      this.nc.publish(subject, payload);
      this.metrics.published.inc({ schema: def.schema });
      return Promise.resolve(undefined);
    }
    return this.store(def, subject, payload, msgId, timeoutMs);
  }

  /** Stores one message in its stream; a missing stream is named. */
  private async store(
    def: EventDef<unknown, string>,
    subject: string,
    payload: Uint8Array,
    msgId: string,
    timeoutMs = 5000,
  ): Promise<PubAck> {
    try {
      // A retried publish carries the same message id, so it is stored once.
      const ack = await this.js.publish(subject, payload, { msgID: msgId, timeout: timeoutMs, retries: 3 });
      this.metrics.published.inc({ schema: def.schema });
      return ack;
    } catch (cause) {
      if (isNoResponders(cause)) {
        throw new EventsError(
          'no_stream',
          // On a cluster the same answer comes while the stream elects a new leader (seconds after
          // a node goes), which the client's retries may not outlast.
          `${subject}: no stream stores it yet (${def.stream}); is the service that provisions it running? On a cluster, its leader may be changing: try again in a few seconds`,
          { cause },
        );
      }
      throw cause;
    }
  }

  /**
   * Consumes a stored event type through a durable pull consumer. The handler's success acks;
   * its failure asks for redelivery after `retryDelayMs`, up to `maxDeliver` times.
   *
   * A stream that another service provisions may not exist yet (services start in any order):
   * then the consumer waits for it in the background, with backoff, counted in
   * `warden_bus_stream_waits_total`, and `attached` resolves when it appears. A consumer that goes
   * away later (the stream deleted, the server restarted without it) is recreated the same way.
   * A permission refused on the first attempt rejects at once (a deployment error); later, it is
   * logged as an error, counted in `warden_bus_consumer_failures_total` and retried.
   */
  async consume<E extends EventDef<unknown, string>>(
    def: E,
    handler: Handler<DataOf<E>>,
    options: ConsumeOptions<E['qualifiers'][number]>,
  ): Promise<RunningConsumer> {
    if (def.stream === null)
      throw new EventsError('not_stored', `${def.schema} is not stored; use subscribe()`);
    const stream = def.stream;
    const durable = options.durable;
    const ackWaitMs = options.ackWaitMs ?? 30_000;
    const config: Partial<ConsumerConfig> = {
      durable_name: durable,
      filter_subject: filterOf(def, options.filter),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: options.deliver === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
      max_deliver: options.maxDeliver ?? 10,
      ack_wait: ackWaitMs * 1_000_000,
      ...(options.maxAckPending ? { max_ack_pending: options.maxAckPending } : {}),
    };
    let jsm: JetStreamManager | undefined;
    const ensure = async (): Promise<ConsumerMessages> => {
      jsm ??= await jetstreamManager(this.nc);
      const existing = await jsm.consumers.info(stream, durable).catch((err: unknown) => {
        if (isConsumerNotFound(err)) return null;
        throw err;
      });
      if (existing) {
        await jsm.consumers.update(stream, durable, {
          filter_subject: config.filter_subject,
          max_deliver: config.max_deliver,
          ack_wait: config.ack_wait,
          ...(config.max_ack_pending ? { max_ack_pending: config.max_ack_pending } : {}),
        });
      } else {
        await jsm.consumers.add(stream, config);
      }
      const consumer = await this.js.consumers.get(stream, durable);
      // A small batch: every buffered message's ack wait is already running while it waits its
      // turn, so a large batch behind a slow handler would expire and be redelivered.
      // Aborting when the consumer vanishes lets the loop below recreate it instead of waiting forever.
      // Pulls expire after 5 s, not the client's 30 s: on a cluster, a pull held by a node that
      // died is lost, and the client notices only after two missed idle heartbeats (half the
      // expiry each), so with 30 s a node loss stopped every consumer for about 40 s. The cost
      // is one pull request per 5 s per idle consumer.
      return consumer.consume({ max_messages: 8, expires: 5000, abort_on_missing_resource: true });
    };

    // A refusal on the first attempt is a deployment error the caller must hear about; anything
    // else (no stream yet, JetStream still starting) is waited out in the background.
    let messages: ConsumerMessages | undefined;
    try {
      messages = await ensure();
    } catch (err) {
      if (isPermissionDenied(err)) throw err;
    }
    const handling: HandlingOptions = {
      retryDelayMs: options.retryDelayMs ?? 1000,
      maxDeliver: config.max_deliver ?? 10,
      ackWaitMs,
      ...(options.onInvalid ? { onInvalid: options.onInvalid } : {}),
    };
    const abort = new AbortController();
    let stopped = false;
    // A closed or draining connection is the service shutting down, not a lost consumer.
    const ending = (): boolean => stopped || this.nc.isClosed() || this.nc.isDraining();
    let markAttached = (): void => {};
    const attached = new Promise<void>((resolve) => (markAttached = resolve));
    if (messages) markAttached();

    /**
     * Attaches with backoff until it succeeds or the consumer stops. It never gives up on its
     * own: a permission refused later (a configuration reload) is logged as an error and counted
     * on every attempt, so a consumer that matters (revocations) resumes once it is allowed again.
     */
    const attach = async (): Promise<ConsumerMessages | undefined> => {
      const backoff = new Backoff(STREAM_WAIT);
      let waitingSince: number | undefined;
      for (;;) {
        if (ending()) return undefined;
        try {
          const attachedNow = await ensure();
          // Stopped while the attempt was in flight: nobody would close what it opened. Closing
          // unsubscribes at once; its promise settles only through an iterator, so it is not awaited.
          if (ending()) {
            void attachedNow.close();
            return undefined;
          }
          if (waitingSince !== undefined)
            this.log.info(
              { stream, durable, waitedMs: Date.now() - waitingSince },
              'stream is there; consuming',
            );
          markAttached();
          return attachedNow;
        } catch (err) {
          if (ending()) return undefined;
          const detail = { stream, durable, code: codeOf(err), reason: messageOf(err) };
          if (isStreamNotFound(err)) {
            this.metrics.streamWaits.inc({ stream });
            if (waitingSince === undefined) {
              waitingSince = Date.now();
              this.log.info({ stream, durable }, 'waiting for the stream, which another service provisions');
            }
          } else if (isPermissionDenied(err)) {
            this.metrics.consumerFailures.inc({ stream, reason: 'permission' });
            this.log.error(detail, 'not allowed to consume this stream; retrying');
          } else {
            this.metrics.consumerFailures.inc({ stream, reason: 'attach' });
            this.log.warn(detail, 'cannot create the consumer; retrying');
          }
        }
        await pause(backoff.next(), abort.signal);
      }
    };

    const closed = (async () => {
      // A consumer that then ran for a minute starts its next recreation from the shortest wait.
      const recreate = new Backoff({ ...STREAM_WAIT, stableMs: 60_000 });
      for (;;) {
        messages ??= await attach();
        if (!messages) return;
        const attachedAt = Date.now();
        try {
          for await (const msg of messages) await this.handleStored(def, handler, msg, handling);
        } catch (err) {
          if (!ending()) this.log.error({ err, stream, durable }, 'consumer failed');
        }
        messages = undefined;
        if (ending()) return;
        this.metrics.consumerFailures.inc({ stream, reason: 'gone' });
        const delayMs = recreate.next(Date.now() - attachedAt);
        this.log.warn({ stream, durable, retryInMs: delayMs }, 'consumer went away; recreating it');
        await pause(delayMs, abort.signal);
      }
    })();
    return {
      closed,
      attached,
      stop: async () => {
        stopped = true;
        abort.abort();
        await messages?.close();
        await closed;
      },
    };
  }

  /**
   * Reads a stream from its first message (or from `since`) up to its last sequence at the time
   * of the call, through an ordered (ephemeral) consumer, handing each event to the handler of its
   * type, in stream order. Every message is validated like any other input: an invalid one is
   * logged, counted and skipped. A handler that throws ends the replay with its error. Used to
   * rebuild state that Redis holds from the stream that is its durable copy, and to look back at
   * a window of it.
   */
  async replay(
    handlers: readonly ReplayHandler[],
    options: { since?: Date; signal?: AbortSignal } = {},
  ): Promise<ReplayResult> {
    const started = Date.now();
    const stream = handlers[0]?.def.stream;
    if (!stream || handlers.some((h) => h.def.stream !== stream))
      throw new EventsError('bad_replay', 'replay needs handlers for stored events of one stream');
    const result: ReplayResult = { applied: 0, invalid: 0, lastSeq: 0, ms: 0 };
    const scanned = await this.scan(
      stream,
      {
        subjects: handlers.map((h) => h.subject),
        ...(options.since ? { since: options.since } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      async (msg) => {
        const target = handlers.find((h) => matchesEvent(h.def, msg.subject));
        const event =
          target && this.decodeIn(target.def.schema, target.def.validateEnvelope, msg.subject, msg.data);
        if (target && event) {
          await target.handle(event as Envelope<unknown>, { subject: msg.subject, seq: msg.seq });
          result.applied++;
        } else {
          result.invalid++;
          this.metrics.received.inc({ schema: target?.def.schema ?? 'unknown', outcome: 'invalid' });
        }
      },
    );
    result.lastSeq = scanned.lastSeq;
    result.ms = Date.now() - started;
    return result;
  }

  /**
   * Reads the stored messages of `stream` matching `subjects`, raw and in stream order, through
   * an ordered (ephemeral) consumer: from `since` (a time) or the first message, up to the
   * stream's last sequence when the call began, or, with `follow`, on until `signal` aborts. The
   * server does the filtering and the seek; nothing before `since` is sent. Shared by `replay`
   * and by tools that must see messages exactly as stored (the audit log's verifier).
   */
  async scan(
    stream: string,
    options: { subjects: readonly string[]; since?: Date; follow?: boolean; signal?: AbortSignal },
    onMessage: (msg: StoredMessage) => Promise<void> | void,
  ): Promise<{ lastSeq: number; read: number }> {
    const jsm = await jetstreamManager(this.nc);
    const lastSeq = (await jsm.streams.info(stream)).state.last_seq;
    const follow = options.follow ?? false;
    const consumer = await this.js.consumers.get(stream, {
      // One filter goes in the API subject, where a permission can see it (people are refused
      // the form that carries several in the request body).
      filter_subjects:
        options.subjects.length === 1 ? (options.subjects[0] as string) : [...options.subjects],
      ...(options.since
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: options.since.toISOString() }
        : { deliver_policy: follow ? DeliverPolicy.New : DeliverPolicy.All }),
    });
    let read = 0;
    const aborted = (): EventsError =>
      new EventsError('scan_aborted', `reading ${stream} stopped`, { cause: options.signal?.reason });
    try {
      // A stream whose messages are all of other types would otherwise be waited on forever.
      if (!follow && (lastSeq === 0 || (await consumer.info()).num_pending === 0)) return { lastSeq, read };
      const messages = await consumer.consume();
      const stop = (): void => void messages.close();
      options.signal?.addEventListener('abort', stop, { once: true });
      try {
        for await (const msg of messages) {
          // A filtered read can be handed a message published after it started: not its business.
          if (!follow && msg.seq > lastSeq) break;
          if (options.signal?.aborted) {
            if (follow) break;
            throw aborted();
          }
          read++;
          await onMessage({
            subject: msg.subject,
            seq: msg.seq,
            storedAt: msg.time,
            data: msg.data,
          });
          if (!follow && (msg.seq >= lastSeq || msg.info.pending === 0)) break;
        }
      } finally {
        options.signal?.removeEventListener('abort', stop);
        await messages.close();
      }
      if (!follow && options.signal?.aborted) throw aborted();
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return { lastSeq, read };
  }

  /** Subscribes to a core (not stored) event type, validating each message. */
  subscribe<E extends EventDef<unknown, string>>(
    def: E,
    handler: Handler<DataOf<E>>,
    options: { filter?: Partial<Record<E['qualifiers'][number], string>>; queue?: string } = {},
  ): Subscription {
    return this.nc.subscribe(filterOf(def, options.filter), {
      ...(options.queue ? { queue: options.queue } : {}),
      callback: (err, msg) => {
        if (err) {
          this.log.error({ err, schema: def.schema }, 'subscription error');
          return;
        }
        const event = this.decodeIn(def.schema, def.validateEnvelope, msg.subject, msg.data);
        if (!event) {
          this.metrics.received.inc({ schema: def.schema, outcome: 'invalid' });
          return;
        }
        Promise.resolve()
          .then(() => handler(event as Envelope<DataOf<E>>, msg.subject))
          .then(
            () => this.metrics.received.inc({ schema: def.schema, outcome: 'ack' }),
            (cause: unknown) => {
              this.metrics.received.inc({ schema: def.schema, outcome: 'failed' });
              this.log.error({ err: cause, subject: msg.subject }, 'handler failed');
            },
          );
      },
    });
  }

  /** Sends a validated request and returns the validated reply, or throws the responder's error. */
  async request<R extends RequestDef>(
    def: R,
    data: DataOf<R>,
    options: { timeoutMs?: number } = {},
  ): Promise<ReplyOf<R>> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const envelope = newEnvelope(
      def.subject,
      this.source,
      this.validateOut(def.subject, def.validateRequest, data),
    );
    const payload = this.encode(def.subject, envelope);
    const started = process.hrtime.bigint();
    const observe = (outcome: string): void => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.requestSeconds.observe({ subject: def.subject, outcome }, seconds);
    };
    let msg: Msg;
    try {
      msg = await this.nc.request(def.subject, payload, { timeout: timeoutMs });
    } catch (cause) {
      if (isNoResponders(cause)) {
        observe('no_responders');
        throw new EventsError('no_responders', `${def.subject}: nobody answers; is its service running?`, {
          cause,
        });
      }
      observe('timeout');
      throw new RequestTimeoutError(def.subject, timeoutMs, { cause });
    }
    let reply: ReplyWire<unknown>;
    try {
      reply = JSON.parse(decoder.decode(msg.data)) as ReplyWire<unknown>;
    } catch {
      observe('invalid');
      throw new InvalidPayloadError(`${def.subject} reply`, ['not JSON']);
    }
    if (!reply || typeof reply !== 'object') {
      observe('invalid');
      throw new InvalidPayloadError(`${def.subject} reply`, ['not a JSON object']);
    }
    if (reply.ok !== true) {
      observe('error');
      const error = reply.ok === false ? reply.error : { code: 'malformed_reply', message: 'no ok field' };
      throw new RemoteError(def.subject, error?.code ?? 'unknown', error?.message ?? '');
    }
    const parsed = def.validateReply(reply.data);
    if (!parsed.ok) {
      observe('invalid');
      this.metrics.invalid.inc({ schema: def.subject, direction: 'in', reason: 'schema' });
      throw new InvalidPayloadError(`${def.subject} reply`, parsed.issues);
    }
    observe('ok');
    return parsed.value as ReplyOf<R>;
  }

  /**
   * Answers a request subject in a queue group (every instance of a service shares the load).
   * An invalid request gets an `invalid_payload` error reply; a handler error gets its code.
   */
  serve<R extends RequestDef>(def: R, handler: Responder<R>, options: { queue: string }): Subscription {
    return this.nc.subscribe(def.subject, {
      queue: options.queue,
      callback: (err, msg) => {
        if (err) {
          this.log.error({ err, subject: def.subject }, 'responder subscription error');
          return;
        }
        void this.answer(def, handler, msg);
      },
    });
  }

  private async answer<R extends RequestDef>(def: R, handler: Responder<R>, msg: Msg): Promise<void> {
    const base = {
      id: '',
      time: new Date().toISOString(),
      source: this.source,
      schema: `${def.subject}.reply`,
    };
    // A reply goes only to an inbox, or to the `_R_.` subject nats-server puts in place of the
    // inbox of a caller in another account: a requester must not be able to make this service
    // publish into a stream (for instance the audit log) by naming a stream subject as its reply-to.
    if (!isReplySubject(msg.reply)) {
      this.metrics.invalid.inc({ schema: def.subject, direction: 'in', reason: 'bad_reply_subject' });
      this.log.warn(
        { subject: def.subject, replyTo: msg.reply ?? null },
        'ignored a request without an inbox reply subject',
      );
      return;
    }
    const respond = (reply: ReplyWire<unknown>): void => {
      msg.respond(encoder.encode(JSON.stringify(reply)));
    };
    let failure: { reason: InvalidMessage['reason']; issues: readonly string[] } | undefined;
    const request = this.decodeIn(
      def.subject,
      def.validateRequestEnvelope,
      msg.subject,
      msg.data,
      (f) => (failure = f),
    );
    if (!request) {
      respond({
        ...base,
        id: crypto.randomUUID(),
        ok: false,
        error: {
          code: 'invalid_payload',
          message: failure
            ? `${failure.reason}: ${failure.issues.slice(0, 5).join('; ')}`
            : 'invalid request',
        },
      });
      return;
    }
    try {
      const result = await handler(request.data as DataOf<R>, request as Envelope<DataOf<R>>, callerOf(msg));
      const checked = def.validateReply(result);
      if (!checked.ok) {
        this.metrics.invalid.inc({ schema: def.subject, direction: 'out', reason: 'schema' });
        this.log.error({ subject: def.subject, issues: checked.issues }, 'handler produced an invalid reply');
        respond({
          ...base,
          id: request.id,
          ok: false,
          error: { code: 'internal', message: 'invalid reply' },
        });
        return;
      }
      respond({ ...base, id: request.id, ok: true, data: checked.value });
    } catch (cause) {
      // A bus error keeps its own code on the wire (a relayed RemoteError says remote_error).
      const code = cause instanceof EventsError ? cause.code : codeOf(cause);
      const message = messageOf(cause);
      this.log.warn({ subject: def.subject, code, err: cause }, 'request failed');
      respond({ ...base, id: request.id, ok: false, error: { code, message } });
    }
  }

  private async handleStored<E extends EventDef<unknown, string>>(
    def: E,
    handler: Handler<DataOf<E>>,
    msg: JsMsg,
    { retryDelayMs, maxDeliver, ackWaitMs, onInvalid }: HandlingOptions,
  ): Promise<void> {
    let failure: { reason: InvalidMessage['reason']; issues: readonly string[]; value?: unknown } | undefined;
    const event = this.decodeIn(
      def.schema,
      def.validateEnvelope,
      msg.subject,
      msg.data,
      (f) => (failure = f),
    );
    if (!event) {
      // Redelivering a message that can never validate would loop forever: terminate it.
      msg.term('invalid payload');
      this.metrics.received.inc({ schema: def.schema, outcome: 'invalid' });
      if (onInvalid && failure) {
        const id = usableId(failure.value) ?? usableId({ id: msg.headers?.get('Nats-Msg-Id') });
        const invalid: InvalidMessage = {
          subject: msg.subject,
          reason: failure.reason,
          issues: failure.issues,
          seq: msg.seq,
          ...(id ? { id } : {}),
        };
        try {
          await onInvalid(invalid);
        } catch (err) {
          this.log.error({ err, subject: msg.subject, seq: msg.seq }, 'answering an invalid message failed');
        }
      }
      return;
    }
    // A handler that runs long tells the server it is still working, so the event is not
    // redelivered to another instance meanwhile.
    const keepAlive = setInterval(() => msg.working(), Math.max(1000, ackWaitMs / 2));
    try {
      await handler(event as Envelope<DataOf<E>>, msg.subject);
      msg.ack();
      this.metrics.received.inc({ schema: def.schema, outcome: 'ack' });
    } catch (cause) {
      const lastTry = msg.info.deliveryCount >= maxDeliver;
      this.metrics.received.inc({ schema: def.schema, outcome: lastTry ? 'failed' : 'retry' });
      this.log.error(
        { err: cause, subject: msg.subject, eventId: event.id, delivery: msg.info.deliveryCount, maxDeliver },
        lastTry
          ? 'handler failed on the last delivery; giving up on this event'
          : 'handler failed; will retry',
      );
      if (lastTry) msg.term('handler failed');
      else msg.nak(retryDelayMs);
    } finally {
      clearInterval(keepAlive);
    }
  }

  private validateOut<T>(schema: string, validate: Validator<T>, data: unknown): T {
    const parsed = validate(data);
    if (!parsed.ok) {
      this.metrics.invalid.inc({ schema, direction: 'out', reason: 'schema' });
      throw new InvalidPayloadError(schema, parsed.issues);
    }
    return parsed.value;
  }

  private encode(subject: string, value: unknown): Uint8Array {
    const payload = encoder.encode(JSON.stringify(value));
    if (payload.byteLength > this.maxPayload)
      throw new PayloadTooLargeError(subject, payload.byteLength, this.maxPayload);
    return payload;
  }

  /**
   * Decodes and validates one received message; on failure counts, logs, tells `onReject` why
   * (with the parsed value, if it parsed) and returns null.
   */
  private decodeIn<T>(
    schema: string,
    validate: Validator<T>,
    subject: string,
    data: Uint8Array,
    onReject?: (failure: {
      reason: InvalidMessage['reason'];
      issues: readonly string[];
      value?: unknown;
    }) => void,
  ): T | null {
    let value: unknown;
    const reject = (reason: InvalidMessage['reason'], issues: readonly string[]): null => {
      this.metrics.invalid.inc({ schema, direction: 'in', reason });
      this.log.warn({ subject, schema, reason, issues }, 'rejected an invalid message');
      onReject?.({ reason, issues, ...(value === undefined ? {} : { value }) });
      return null;
    };
    if (data.byteLength > this.maxPayload) return reject('too_large', [`${data.byteLength} bytes`]);
    try {
      value = JSON.parse(decoder.decode(data));
    } catch (cause) {
      return reject('not_json', [cause instanceof Error ? cause.message : String(cause)]);
    }
    const parsed = validate(value);
    if (!parsed.ok) return reject('schema', parsed.issues);
    return parsed.value;
  }
}

/** An id a sender could have chosen and can recognise: a short printable string. */
function usableId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const id = (value as { id?: unknown }).id;
  return typeof id === 'string' && /^[\x21-\x7e]{1,128}$/.test(id) ? id : undefined;
}

/** An inbox of this account, or the reply subject nats-server maps a cross-account caller's inbox to. */
const isReplySubject = (reply: string | undefined): boolean =>
  reply !== undefined && (reply.startsWith('_INBOX') || reply.startsWith('_R_.'));

/**
 * Who sent a request, as nats-server vouches for it: a caller in another account comes with a
 * `Nats-Request-Info` header naming that account; `null` is the responder's own account. The
 * envelope's `source` is only what the caller says it is.
 */
export type Caller = { account: string | null };

export type Responder<R extends RequestDef> = (
  data: DataOf<R>,
  request: Envelope<DataOf<R>>,
  caller: Caller,
) => Promise<ReplyOf<R>> | ReplyOf<R>;

function callerOf(msg: Msg): Caller {
  const info = msg.headers?.get('Nats-Request-Info');
  if (!info) return { account: null };
  try {
    const parsed = JSON.parse(info) as { acc?: unknown };
    return { account: typeof parsed.acc === 'string' ? parsed.acc : null };
  } catch {
    return { account: null };
  }
}
