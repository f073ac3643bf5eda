import { BaselineScorer, BehaviourModel } from '@warden/anomaly';
import { Backoff, pause } from '@warden/core';
import type { ModelStore, ModelVersion } from '@warden/model-store';
import { BEHAVIOUR_MODEL, ModelStatus } from '@warden/model-store';
import type { Counter, Gauge } from 'prom-client';
import type { ActiveModel } from './streaming.ts';

type Log = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

/**
 * Keeps the newest approved behaviour model in force: loaded at start, then swapped without a
 * restart whenever the store changes and a higher approved version appears (the new scorer takes
 * over the workloads' recent windows, so scoring goes on at once). A version that does
 * not load (damaged bytes, a topology tfjs refuses) is logged and skipped; the model in force
 * stays. The watch is re-established with backoff if it ends (NATS restarts).
 */
export class ModelFollower {
  readonly #store: ModelStore;
  readonly #log: Log;
  readonly #gauge: Gauge<'version'>;
  readonly #loads: Counter<'outcome'>;
  readonly #abort = new AbortController();
  #active: (ActiveModel & { model: BehaviourModel; number: number }) | undefined;
  readonly #refused = new Set<string>();
  #checking: Promise<void> = Promise.resolve();
  #watching: Promise<void> | undefined;

  constructor(options: { store: ModelStore; log: Log; gauge: Gauge<'version'>; loads: Counter<'outcome'> }) {
    this.#store = options.store;
    this.#log = options.log;
    this.#gauge = options.gauge;
    this.#loads = options.loads;
  }

  /** The model in force, if any. */
  get active(): ActiveModel | undefined {
    return this.#active;
  }

  /** Loads the newest approved version, then follows the store. */
  async start(): Promise<void> {
    await this.check();
    this.#watching = this.#follow();
  }

  /** Reads the store and swaps in a higher approved version if there is one (calls are queued). */
  check(): Promise<void> {
    this.#checking = this.#checking.then(() =>
      this.#check().catch((err: unknown) => this.#log.error({ err }, 'reading the model store failed')),
    );
    return this.#checking;
  }

  async #check(): Promise<void> {
    const { versions, invalid } = await this.#store.list();
    for (const reason of invalid)
      if (!this.#refused.has(reason)) this.#log.warn({ reason }, 'not a model version');
    for (const reason of invalid) this.#refused.add(reason);
    const candidates = versions
      .filter(
        (v) =>
          v.name === BEHAVIOUR_MODEL && v.status === ModelStatus.approved && !this.#refused.has(v.object),
      )
      .sort((a, b) => b.version - a.version);
    const newest = candidates[0];
    if (!newest || (this.#active && newest.version <= this.#active.number)) return;
    await this.#load(newest);
  }

  async #load(version: ModelVersion): Promise<void> {
    let model: BehaviourModel;
    try {
      model = await BehaviourModel.fromBytes(await this.#store.bytes(version));
    } catch (err) {
      this.#refused.add(version.object);
      this.#loads.inc({ outcome: 'failed' });
      this.#log.error({ err, model: version.object }, 'approved model does not load; the one in force stays');
      // The next approved version down may still be newer than the one in force (or there is none).
      await this.#check();
      return;
    }
    this.#loads.inc({ outcome: 'loaded' });
    const previous = this.#active;
    const scorer = new BaselineScorer(model);
    if (previous && previous.windowSeconds === version.windowSeconds) scorer.adopt(previous.scorer);
    this.#active = {
      model,
      number: version.version,
      version: `${version.name}-v${version.version}`,
      windowSeconds: version.windowSeconds,
      scorer,
    };
    this.#gauge.reset();
    this.#gauge.set({ version: this.#active.version }, 1);
    this.#log.info(
      {
        model: version.object,
        trainedFrom: version.trainedFrom,
        trainedUntil: version.trainedUntil,
        previous: previous?.version,
      },
      'behaviour model in force',
    );
    previous?.model.dispose();
  }

  async #follow(): Promise<void> {
    const backoff = new Backoff({ initialMs: 250, maxMs: 15_000, stableMs: 30_000 });
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        await this.#store.watch(() => void this.check(), signal);
      } catch (err) {
        if (!signal.aborted) this.#log.warn({ err }, 'model store watch ended; watching again');
      }
      if (signal.aborted) break;
      // Whatever changed while the watch was down is picked up now.
      await this.check();
      await pause(backoff.next(Date.now() - started), signal);
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#watching;
    await this.#checking;
    this.#active?.model.dispose();
    this.#active = undefined;
  }
}
