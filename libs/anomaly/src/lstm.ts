import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { WardenError } from '@warden/core';
import { Random } from './random.ts';

/**
 * The behaviour baseline: an LSTM stack (64 → 32 → 16 units, then one linear output per modelled
 * feature) trained unsupervised to forecast a key's next window of features from its last
 * `lookback` windows. One model is shared by every key and conditioned on it through per-key
 * normalisation: each key's features are log-scaled (counts and bytes span orders of magnitude)
 * and standardised with that key's own training means and deviations, so a quiet workload and a
 * busy one are judged against their own normal.
 *
 * The anomaly score is the forecast error calibrated against the errors on held-back training
 * windows (the last `holdout` fraction of each key's history, never trained on): at or below the
 * held-back 99th percentile the score is the error's rank scaled into [0, 0.7]; above it the score
 * climbs from 0.7 towards 1, reaching 0.85 (the default alert bound) when the error exceeds that
 * percentile by 0.69 times the median-to-99th-percentile spread.
 *
 * Runs on tfjs's WebAssembly backend (`tfjs-node` does not build here). Deterministic for a seed:
 * the initial weights and the batch order come from it.
 */
export type TrainOptions = {
  /** The features modelled, in order; a window missing one counts it as 0. */
  features: readonly string[];
  /** Windows of history each forecast sees. */
  lookback?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Fraction of each key's windows held back for calibration. */
  holdout?: number;
  seed?: number;
  /** Called after every epoch and every `progressEvery` batches. */
  onProgress?: (progress: TrainProgress) => void;
};

export type TrainProgress = {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  elapsedMs: number;
};

export const defaultAlertScore = 0.85;

export class ModelError extends WardenError {
  constructor(message: string, options?: ErrorOptions) {
    super('invalid_model', message, options);
  }
}

type Normalisation = { mean: number[]; std: number[] };

/** Everything but the weights, stored as the model bytes' JSON header. */
type ModelMeta = {
  format: 'warden-lstm/1';
  features: string[];
  lookback: number;
  keys: Record<string, Normalisation>;
  shared: Normalisation;
  /** Held-back forecast errors at 1 %, 2 %, ... 100 % (101 points, ascending). */
  calibration: number[];
  trainedAt: string;
  trainingWindows: number;
  seed: number;
};

let backendReady: Promise<void> | undefined;

/** Selects the WebAssembly backend once per process. */
export function useWasmBackend(): Promise<void> {
  backendReady ??= (async () => {
    if (!(await tf.setBackend('wasm')))
      throw new ModelError('the tfjs WebAssembly backend did not initialise');
    await tf.ready();
  })();
  return backendReady;
}

const transform = (value: number): number => Math.sign(value) * Math.log1p(Math.abs(value));

function vectorOf(window: Readonly<Record<string, number>>, features: readonly string[]): number[] {
  return features.map((f) => {
    const v = window[f];
    return v !== undefined && Number.isFinite(v) ? transform(v) : 0;
  });
}

function normalisationOf(rows: readonly number[][], width: number): Normalisation {
  const mean = new Array<number>(width).fill(0);
  const std = new Array<number>(width).fill(0);
  for (const r of rows) for (let i = 0; i < width; i++) mean[i] = (mean[i] ?? 0) + (r[i] ?? 0) / rows.length;
  for (const r of rows)
    for (let i = 0; i < width; i++)
      std[i] = (std[i] ?? 0) + ((r[i] ?? 0) - (mean[i] ?? 0)) ** 2 / rows.length;
  // A feature that never moved gets a unit scale: any change in it is then plainly visible.
  return { mean, std: std.map((v) => Math.max(Math.sqrt(v), 0.05)) };
}

const normalise = (row: readonly number[], n: Normalisation): number[] =>
  row.map((v, i) => (v - (n.mean[i] ?? 0)) / (n.std[i] ?? 1));

function buildModel(features: number, lookback: number, seed: number, learningRate: number): tf.LayersModel {
  const init = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
  const orth = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
  const model = tf.sequential();
  model.add(
    tf.layers.lstm({
      units: 64,
      returnSequences: true,
      inputShape: [lookback, features],
      kernelInitializer: init(1),
      recurrentInitializer: orth(2),
    }),
  );
  model.add(
    tf.layers.lstm({
      units: 32,
      returnSequences: true,
      kernelInitializer: init(3),
      recurrentInitializer: orth(4),
    }),
  );
  model.add(tf.layers.lstm({ units: 16, kernelInitializer: init(5), recurrentInitializer: orth(6) }));
  model.add(tf.layers.dense({ units: features, kernelInitializer: init(7) }));
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'meanSquaredError' });
  return model;
}

/** Sliding samples (lookback windows → the next one) of one key's normalised rows. */
function samplesOf(rows: readonly number[][], lookback: number): { x: number[][]; y: number[] }[] {
  const samples: { x: number[][]; y: number[] }[] = [];
  for (let end = lookback; end < rows.length; end++)
    samples.push({ x: rows.slice(end - lookback, end), y: rows[end] as number[] });
  return samples;
}

export class BehaviourModel {
  readonly #model: tf.LayersModel;
  readonly #meta: ModelMeta;

  private constructor(model: tf.LayersModel, meta: ModelMeta) {
    this.#model = model;
    this.#meta = meta;
  }

  get features(): readonly string[] {
    return this.#meta.features;
  }
  get lookback(): number {
    return this.#meta.lookback;
  }
  get keys(): readonly string[] {
    return Object.keys(this.#meta.keys);
  }
  get trainedAt(): string {
    return this.#meta.trainedAt;
  }
  /** What the model was trained on and how well it forecasts the windows held back from it. */
  get metrics(): { trainingWindows: number; heldOutErrorP50: number; heldOutErrorP99: number; seed: number } {
    const c = this.#meta.calibration;
    return {
      trainingWindows: this.#meta.trainingWindows,
      heldOutErrorP50: c[50] ?? 0,
      heldOutErrorP99: c[99] ?? 0,
      seed: this.#meta.seed,
    };
  }

  /**
   * Trains on each key's windows, oldest first. Every key needs more than `lookback` windows
   * beyond its held-back share; keys with too few are refused rather than silently skipped.
   */
  static async train(
    history: ReadonlyMap<string, readonly Readonly<Record<string, number>>[]>,
    options: TrainOptions,
  ): Promise<BehaviourModel> {
    await useWasmBackend();
    const lookback = options.lookback ?? 12;
    const holdout = options.holdout ?? 0.2;
    const seed = options.seed ?? 1;
    const epochs = options.epochs ?? 10;
    const batchSize = options.batchSize ?? 64;
    const features = [...options.features];
    if (features.length === 0) throw new ModelError('no features to model');
    if (history.size === 0) throw new ModelError('no training windows');
    const keys: Record<string, Normalisation> = {};
    const train: { x: number[][]; y: number[] }[] = [];
    const held: { x: number[][]; y: number[] }[] = [];
    const everything: number[][] = [];
    for (const [key, windows] of history) {
      const raw = windows.map((w) => vectorOf(w, features));
      const trainCount = Math.floor(raw.length * (1 - holdout));
      if (trainCount <= lookback || raw.length - trainCount <= lookback)
        throw new ModelError(
          `key ${key} has ${raw.length} windows; with lookback ${lookback} and holdout ${holdout} it needs at least ${Math.ceil((lookback + 1) / Math.min(holdout, 1 - holdout))}`,
        );
      const n = normalisationOf(raw.slice(0, trainCount), features.length);
      keys[key] = n;
      everything.push(...raw.slice(0, trainCount));
      const rows = raw.map((r) => normalise(r, n));
      train.push(...samplesOf(rows.slice(0, trainCount), lookback));
      held.push(...samplesOf(rows.slice(trainCount), lookback));
    }
    const random = new Random(seed);
    for (let i = train.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [train[i], train[j]] = [train[j] as (typeof train)[number], train[i] as (typeof train)[number]];
    }
    const model = buildModel(features.length, lookback, seed, options.learningRate ?? 0.003);
    const xs = tf.tensor3d(train.map((s) => s.x));
    const ys = tf.tensor2d(train.map((s) => s.y));
    const batches = Math.ceil(train.length / batchSize);
    const started = Date.now();
    let epoch = 0;
    try {
      await model.fit(xs, ys, {
        epochs,
        batchSize,
        shuffle: false,
        verbose: 0,
        callbacks: {
          onEpochBegin: async (e) => {
            epoch = e + 1;
          },
          onBatchEnd: async (batch, logs) => {
            if (batch % 20 === 0 || batch === batches - 1)
              options.onProgress?.({
                epoch,
                epochs,
                batch: batch + 1,
                batches,
                loss: Number(logs?.['loss'] ?? Number.NaN),
                elapsedMs: Date.now() - started,
              });
          },
        },
      });
    } finally {
      xs.dispose();
      ys.dispose();
    }
    const meta: ModelMeta = {
      format: 'warden-lstm/1',
      features,
      lookback,
      keys,
      shared: normalisationOf(everything, features.length),
      calibration: [],
      trainedAt: new Date().toISOString(),
      trainingWindows: everything.length,
      seed,
    };
    const result = new BehaviourModel(model, meta);
    const errors = result
      .#errors(
        held.map((s) => s.x),
        held.map((s) => s.y),
      )
      .sort((a, b) => a - b);
    meta.calibration = Array.from(
      { length: 101 },
      (_, i) => errors[Math.min(errors.length - 1, Math.floor((i / 100) * (errors.length - 1)))] ?? 0,
    );
    return result;
  }

  /** Mean squared forecast error of each sample. */
  #errors(xs: readonly number[][][], ys: readonly number[][]): number[] {
    if (xs.length === 0) return [];
    return tf.tidy(() => {
      const forecast = this.#model.predict(tf.tensor3d(xs as number[][][]), { batchSize: 256 }) as tf.Tensor;
      return Array.from(tf.mean(tf.square(tf.sub(forecast, tf.tensor2d(ys as number[][]))), 1).dataSync());
    });
  }

  /** The calibrated score of a forecast error (see the class comment). */
  calibrate(error: number): number {
    const c = this.#meta.calibration;
    const q50 = c[50] ?? 0;
    const q99 = c[99] ?? 0;
    if (error <= q99) {
      let rank = 0;
      while (rank < 99 && (c[rank + 1] ?? 0) <= error) rank++;
      return (0.7 * rank) / 99;
    }
    const spread = Math.max(q99 - q50, 1e-9);
    return 0.7 + 0.3 * (1 - Math.exp(-(error - q99) / spread));
  }

  /**
   * Scores, for each sample, the last window of `windows` (lookback + 1 windows of one key,
   * oldest first) against the forecast from the ones before it. A key the model was not trained
   * on is normalised with the statistics of all keys together.
   */
  scoreMany(
    samples: readonly { key: string; windows: readonly Readonly<Record<string, number>>[] }[],
  ): { score: number; error: number }[] {
    const lookback = this.#meta.lookback;
    const xs: number[][][] = [];
    const ys: number[][] = [];
    for (const s of samples) {
      if (s.windows.length !== lookback + 1)
        throw new ModelError(
          `a sample needs ${lookback + 1} windows (lookback ${lookback} and the one scored), got ${s.windows.length}`,
        );
      const n = this.#meta.keys[s.key] ?? this.#meta.shared;
      const rows = s.windows.map((w) => normalise(vectorOf(w, this.#meta.features), n));
      xs.push(rows.slice(0, lookback));
      ys.push(rows[lookback] as number[]);
    }
    return this.#errors(xs, ys).map((error) => ({ error, score: this.calibrate(error) }));
  }

  /** The model as one byte array: a length-prefixed JSON header, then the weights. */
  async toBytes(): Promise<Uint8Array> {
    let artifacts: tf.io.ModelArtifacts | undefined;
    await this.#model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    if (!artifacts?.weightData || !artifacts.weightSpecs) throw new ModelError('tfjs saved no weights');
    const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
    const header = new TextEncoder().encode(
      JSON.stringify({
        meta: this.#meta,
        topology: artifacts.modelTopology,
        weightSpecs: artifacts.weightSpecs,
      }),
    );
    const bytes = new Uint8Array(4 + header.length + weights.length);
    new DataView(bytes.buffer).setUint32(0, header.length);
    bytes.set(header, 4);
    bytes.set(weights, 4 + header.length);
    return bytes;
  }

  static async fromBytes(bytes: Uint8Array): Promise<BehaviourModel> {
    await useWasmBackend();
    if (bytes.length < 4) throw new ModelError('model bytes are truncated');
    const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
    if (4 + length > bytes.length) throw new ModelError('model bytes are truncated');
    let header: { meta: ModelMeta; topology: object; weightSpecs: tf.io.WeightsManifestEntry[] };
    try {
      header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length))) as typeof header;
    } catch (err) {
      throw new ModelError('model bytes do not start with a JSON header', { cause: err });
    }
    if (header.meta?.format !== 'warden-lstm/1')
      throw new ModelError(`unknown model format ${JSON.stringify(header.meta?.format)}`);
    const weights = bytes.slice(4 + length).buffer;
    try {
      const model = await tf.loadLayersModel(
        tf.io.fromMemory({
          modelTopology: header.topology,
          weightSpecs: header.weightSpecs,
          weightData: weights,
        }),
      );
      return new BehaviourModel(model, header.meta);
    } catch (err) {
      throw new ModelError('model weights do not match the topology', { cause: err });
    }
  }

  dispose(): void {
    this.#model.dispose();
  }
}

/**
 * Streaming use of a model: feed each key's windows in order, get a score once the key has
 * `lookback` windows of history (null before). Keeps `lookback + 1` windows per key, for at most
 * `maxKeys` keys (the least recently seen is forgotten first: bounded memory).
 */
export class BaselineScorer {
  readonly #model: BehaviourModel;
  readonly #maxKeys: number;
  readonly #history = new Map<string, Readonly<Record<string, number>>[]>();

  constructor(model: BehaviourModel, options: { maxKeys?: number } = {}) {
    this.#model = model;
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  /** Keys with history. */
  get keys(): number {
    return this.#history.size;
  }

  /**
   * Takes over another scorer's recent windows (a model swapped in while running), so that keys
   * are scored again at once rather than after a new lookback. Windows are features, not model
   * state, so they carry over between models; only as many as this model looks back are kept.
   */
  adopt(previous: BaselineScorer): void {
    const keep = this.#model.lookback + 1;
    for (const [key, windows] of previous.#history) {
      if (this.#history.size >= this.#maxKeys) break;
      this.#history.set(key, windows.slice(-keep));
    }
  }

  /** Scores a batch of windows (one inference call for all of them). */
  observe(
    windows: readonly { key: string; features: Readonly<Record<string, number>> }[],
  ): ({ score: number; error: number } | null)[] {
    const samples: { key: string; windows: Readonly<Record<string, number>>[] }[] = [];
    const positions: number[] = [];
    windows.forEach((w, i) => {
      const h = this.#history.get(w.key) ?? [];
      this.#history.delete(w.key);
      if (this.#history.size >= this.#maxKeys) {
        const oldest = this.#history.keys().next();
        if (!oldest.done) this.#history.delete(oldest.value);
      }
      h.push(w.features);
      if (h.length > this.#model.lookback + 1) h.shift();
      this.#history.set(w.key, h);
      if (h.length === this.#model.lookback + 1) {
        samples.push({ key: w.key, windows: [...h] });
        positions.push(i);
      }
    });
    const results: ({ score: number; error: number } | null)[] = windows.map(() => null);
    const scored = this.#model.scoreMany(samples);
    positions.forEach((p, i) => {
      results[p] = scored[i] ?? null;
    });
    return results;
  }
}
