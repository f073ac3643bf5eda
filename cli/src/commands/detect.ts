import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, basename, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { BehaviourModel, readFeatureCsv, scoreCsv } from '@warden/anomaly';
import type { TrainProgress } from '@warden/anomaly';
import type { Command, CommandContext } from '../command.ts';
import { UsageError } from '../command.ts';
import { parseWhen } from './audit.ts';
import { listModels, promoteModel, showModel, trainFromStream } from './detect-models.ts';

function requiredPath(ctx: CommandContext, values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} FILE is required`);
  return resolve(ctx.cwd, value);
}

function integer(
  values: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = values[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

/** The file's lines, and a way to close it early (when a bad line ends the command). */
function openLines(file: string): { lines: AsyncIterable<string>; close(): void } {
  if (!existsSync(file)) throw new UsageError(`${file} does not exist`);
  const input = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  return {
    lines,
    close: () => {
      lines.close();
      input.destroy();
    },
  };
}

/** A temporary file beside `target`, renamed over it only when the command succeeds. */
const temporaryBeside = (target: string): string =>
  join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);

const duration = (ms: number): string => {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};

function progressLine(p: TrainProgress): string {
  const done = (p.epoch - 1 + p.batch / p.batches) / p.epochs;
  const bar = '='.repeat(Math.round(done * 30)).padEnd(30);
  const eta = done > 0 ? duration((p.elapsedMs / done) * (1 - done)) : '?';
  return `epoch ${p.epoch}/${p.epochs} [${bar}] ${(done * 100).toFixed(0)}% loss ${p.loss.toFixed(4)} elapsed ${duration(p.elapsedMs)} eta ${eta}\n`;
}

export const detectCommands: Command[] = [
  {
    path: ['detect', 'score'],
    summary:
      'score a time-series CSV offline: each row gets anomaly_score in [0, 1] from that row and the ones before it',
    options: {
      csv: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string' },
    },
    optionHelp: {
      csv: 'input with a header: timestamp,value[,value...]; empty, NaN or NA cells are missing values',
      out: 'output: the input columns plus anomaly_score (written only if the whole input is valid); - for stdout',
      seed: 'accepted for reproducibility; the detectors draw no random numbers, so every seed gives the same scores',
    },
    async run(ctx, _positionals, values) {
      const input = requiredPath(ctx, values, 'csv');
      const outValue = values['out'];
      if (typeof outValue !== 'string' || outValue === '')
        throw new UsageError('--out FILE is required (- for stdout)');
      integer(values, 'seed', 0, 0, 2 ** 32 - 1);
      const source = openLines(input);
      const started = Date.now();
      if (outValue === '-') {
        try {
          const rows = await scoreCsv(source.lines, (line) => ctx.io.out(`${line}\n`));
          ctx.io.err(`scored ${rows} rows in ${duration(Date.now() - started)}\n`);
          return 0;
        } finally {
          source.close();
        }
      }
      const target = resolve(ctx.cwd, outValue);
      const temporary = temporaryBeside(target);
      const stream = createWriteStream(temporary, { encoding: 'utf8' });
      const closed = once(stream, 'close').catch(() => undefined);
      let alarms = 0;
      try {
        const rows = await scoreCsv(
          source.lines,
          async (line) => {
            if (Number(line.slice(line.lastIndexOf(',') + 1)) >= 0.85) alarms++;
            if (!stream.write(`${line}\n`)) await once(stream, 'drain');
          },
          { progressEvery: 5000, onProgress: (n) => ctx.io.err(`scored ${n} rows\n`) },
        );
        stream.end();
        await once(stream, 'finish');
        renameSync(temporary, target);
        ctx.io.out(
          `scored ${rows} rows in ${duration(Date.now() - started)}; ${alarms} at or above 0.85; wrote ${target}\n`,
        );
        return 0;
      } catch (err) {
        stream.destroy();
        await closed;
        rmSync(temporary, { force: true });
        throw err;
      } finally {
        source.close();
      }
    },
  },
  {
    path: ['detect', 'train'],
    summary:
      'train the LSTM behaviour baseline: from a CSV of feature windows into a file, or from the feature stream into a new model version',
    options: {
      csv: { type: 'string' },
      out: { type: 'string' },
      'from-stream': { type: 'boolean' },
      since: { type: 'string' },
      window: { type: 'string' },
      features: { type: 'string' },
      lookback: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      seed: { type: 'string' },
    },
    optionHelp: {
      csv: 'feature windows with a header: timestamp[,key],feature...; a key column (workload or edge) groups them, each key in time order',
      out: 'with --csv: where the model is written (one file: its JSON header, then the weights)',
      'from-stream':
        "read each workload's windows from warden.telemetry.v1.features and store the model as a new candidate version in warden-models (as the operator: --identity admin); warden detect models promote puts it in force",
      since: 'with --from-stream: from this time (ISO 8601) or this long ago (24h, 7d); default 24h',
      window:
        'with --from-stream: the window length trained on, in seconds, 1 or 10 (default 10, what the detector scores)',
      features: 'comma-separated feature columns to model (default every column but timestamp and key)',
      lookback: 'windows of history per forecast (default 12)',
      epochs: 'passes over the training windows (default 10)',
      'batch-size': 'windows per gradient step (default 64)',
      seed: 'initial weights and batch order (default 1); the same seed and input give the same model',
    },
    async run(ctx, _positionals, values) {
      if (values['from-stream'] === true) {
        if (values['csv'] !== undefined || values['out'] !== undefined || values['features'] !== undefined)
          throw new UsageError(
            '--from-stream stores a model version: it takes no --csv, --out or --features',
          );
        const window = integer(values, 'window', 10, 1, 10);
        if (window !== 1 && window !== 10) throw new UsageError('--window must be 1 or 10');
        const { version } = await trainFromStream(ctx, {
          since: parseWhen(values['since'] ?? '24h', 'since') ?? new Date(0),
          windowSeconds: window,
          lookback: integer(values, 'lookback', 12, 1, 1000),
          epochs: integer(values, 'epochs', 10, 1, 10_000),
          batchSize: integer(values, 'batch-size', 64, 1, 65_536),
          seed: integer(values, 'seed', 1, 0, 2 ** 31 - 1),
          progress: (p) => ctx.io.err(progressLine(p)),
        });
        ctx.io.out(
          `stored ${version.name}-v${version.version} (candidate): ${version.trainingWindows} training windows of ${version.keys} workloads, ${version.trainedFrom} .. ${version.trainedUntil}; put it in force with warden detect models promote ${version.version} --reason TEXT\n`,
        );
        return 0;
      }
      if (values['since'] !== undefined || values['window'] !== undefined)
        throw new UsageError('--since and --window go with --from-stream');
      const input = requiredPath(ctx, values, 'csv');
      const target = requiredPath(ctx, values, 'out');
      const source = openLines(input);
      const table = await readFeatureCsv(source.lines).finally(() => source.close());
      const requested =
        typeof values['features'] === 'string'
          ? values['features']
              .split(',')
              .map((f) => f.trim())
              .filter(Boolean)
          : table.features;
      const unknown = requested.filter((f) => !table.features.includes(f));
      if (unknown.length)
        throw new UsageError(`--features names columns the file does not have: ${unknown.join(', ')}`);
      const windows = [...table.windows.values()].reduce((n, w) => n + w.length, 0);
      ctx.io.err(
        `training on ${windows} windows of ${table.windows.size} keys, ${requested.length} features\n`,
      );
      const model = await BehaviourModel.train(table.windows, {
        features: requested,
        lookback: integer(values, 'lookback', 12, 1, 1000),
        epochs: integer(values, 'epochs', 10, 1, 10_000),
        batchSize: integer(values, 'batch-size', 64, 1, 65_536),
        seed: integer(values, 'seed', 1, 0, 2 ** 31 - 1),
        onProgress: (p) => ctx.io.err(progressLine(p)),
      });
      try {
        const bytes = await model.toBytes();
        const temporary = temporaryBeside(target);
        writeFileSync(temporary, bytes);
        renameSync(temporary, target);
        ctx.io.out(
          `wrote ${target} (${bytes.length} bytes; ${model.keys.length} keys, lookback ${model.lookback})\n`,
        );
      } finally {
        model.dispose();
      }
      return 0;
    },
  },
  {
    path: ['detect', 'models', 'list'],
    summary:
      'the behaviour model versions in warden-models: status, training window, metrics (as --identity admin)',
    async run(ctx, positionals) {
      if (positionals.length > 0) throw new UsageError(`unexpected ${JSON.stringify(positionals[0])}`);
      return listModels(ctx);
    },
  },
  {
    path: ['detect', 'models', 'show'],
    summary: 'one model version: everything its metadata holds (as --identity admin)',
    args: '<version>',
    async run(ctx, positionals) {
      if (positionals.length !== 1) throw new UsageError('one version number is required');
      return showModel(ctx, positionals[0]);
    },
  },
  {
    path: ['detect', 'models', 'promote'],
    summary:
      'approve a model version: detectors swap to the newest approved version without a restart (as --identity admin)',
    args: '<version>',
    options: { reason: { type: 'string' } },
    optionHelp: { reason: 'why it is approved (required; kept in its metadata)' },
    async run(ctx, positionals, values) {
      if (positionals.length !== 1) throw new UsageError('one version number is required');
      return promoteModel(ctx, positionals[0], values['reason']);
    },
  },
];
