import { hostname } from 'node:os';
import { BehaviourModel, featureNames } from '@warden/anomaly';
import type { TrainProgress } from '@warden/anomaly';
import { filterOf, StreamName, telemetryFeatures } from '@warden/events';
import type { ModelVersion } from '@warden/model-store';
import { BEHAVIOUR_MODEL, ModelStore } from '@warden/model-store';
import { inboundView } from '@warden/telemetry';
import type { CommandContext } from '../command.ts';
import { requiredReason, UsageError } from '../command.ts';
import { table } from '../table.ts';

const decoder = new TextDecoder();

/** Feature windows of one length, per workload (`ns/name`), in stream order, and their time span. */
export type StreamHistory = {
  windows: Map<string, Record<string, number>[]>;
  from: string | undefined;
  until: string | undefined;
  read: number;
  invalid: number;
};

/**
 * Reads `warden.telemetry.v1.features` from `since` (an ordered consumer starting at that time)
 * and keeps each workload's windows of `windowSeconds`, the calls it received, as the detector
 * scores them. Edge windows and other lengths are skipped; an invalid message is counted.
 */
export async function readFeatureHistory(
  ctx: CommandContext,
  since: Date,
  windowSeconds: number,
): Promise<StreamHistory> {
  const bus = await ctx.bus();
  const history: StreamHistory = {
    windows: new Map(),
    from: undefined,
    until: undefined,
    read: 0,
    invalid: 0,
  };
  await bus.scan(StreamName.telemetry, { subjects: [filterOf(telemetryFeatures)], since }, (msg) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(msg.data));
    } catch {
      history.invalid++;
      return;
    }
    const checked = telemetryFeatures.validateEnvelope(parsed);
    if (!checked.ok) {
      history.invalid++;
      return;
    }
    const w = checked.value.data;
    if (w.scope === 'edge' || w.peer || w.windowSeconds !== windowSeconds) return;
    const [namespace, workload] = msg.subject.split('.').slice(4);
    const key = `${namespace}/${workload}`;
    let rows = history.windows.get(key);
    if (!rows) history.windows.set(key, (rows = []));
    rows.push(inboundView(w.features));
    history.read++;
    if (!history.from || w.windowStart < history.from) history.from = w.windowStart;
    if (!history.until || w.windowEnd > history.until) history.until = w.windowEnd;
  });
  return history;
}

function versionNumber(text: unknown): number {
  const n = Number(text);
  if (typeof text !== 'string' || !Number.isSafeInteger(n) || n < 1)
    throw new UsageError(
      `a version number is required (warden detect models list shows them), got ${JSON.stringify(text)}`,
    );
  return n;
}

/** The store, or a clear word on why not (people's `user` identity may not reach it). */
async function openStore(ctx: CommandContext): Promise<ModelStore> {
  try {
    return await ModelStore.open(await ctx.nc());
  } catch (err) {
    throw new UsageError(
      `${err instanceof Error ? err.message : String(err)}; the model store is the operator's: use --identity admin`,
    );
  }
}

const describe = (v: ModelVersion): Record<string, string> => ({
  version: String(v.version),
  status: v.status,
  trainedAt: v.trainedAt,
  trainedFrom: v.trainedFrom,
  trainedUntil: v.trainedUntil,
  windowSeconds: String(v.windowSeconds),
  workloads: String(v.keys),
  trainingWindows: String(v.trainingWindows),
  features: v.features.join(','),
  lookback: String(v.lookback),
  epochs: String(v.epochs),
  loss: v.loss.toFixed(4),
  heldOutErrorP50: v.heldOutErrorP50.toFixed(4),
  heldOutErrorP99: v.heldOutErrorP99.toFixed(4),
  seed: String(v.seed),
  trainedBy: v.trainedBy,
  bytes: String(v.bytes),
  digest: v.digest,
  ...(v.approval
    ? {
        approvedAt: v.approval.approvedAt,
        approvedBy: v.approval.approvedBy,
        approvalReason: v.approval.reason,
      }
    : {}),
});

export async function listModels(ctx: CommandContext): Promise<number> {
  const { versions, invalid } = await (await openStore(ctx)).list();
  if (ctx.output === 'json') {
    ctx.io.out(`${JSON.stringify({ versions, invalid })}\n`);
    return 0;
  }
  ctx.io.out(
    table(
      ['VERSION', 'STATUS', 'TRAINED ON', 'WINDOW', 'WORKLOADS', 'WINDOWS', 'LOSS', 'HELD-OUT P99'],
      versions.map((v) => [
        `${v.name}-v${v.version}`,
        v.status,
        `${v.trainedFrom} .. ${v.trainedUntil}`,
        `${v.windowSeconds}s`,
        String(v.keys),
        String(v.trainingWindows),
        v.loss.toFixed(4),
        v.heldOutErrorP99.toFixed(4),
      ]),
    ),
  );
  for (const reason of invalid) ctx.io.err(`skipped: ${reason}\n`);
  return 0;
}

export async function showModel(ctx: CommandContext, version: unknown): Promise<number> {
  const v = await (await openStore(ctx)).version(BEHAVIOUR_MODEL, versionNumber(version));
  if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(v)}\n`);
  else
    for (const [key, value] of Object.entries(describe(v))) ctx.io.out(`${`${key}:`.padEnd(18)} ${value}\n`);
  return 0;
}

export async function promoteModel(ctx: CommandContext, version: unknown, reason: unknown): Promise<number> {
  const number = versionNumber(version);
  const why = requiredReason(reason);
  const store = await openStore(ctx);
  const v = await store.promote(BEHAVIOUR_MODEL, number, {
    approvedAt: new Date().toISOString(),
    approvedBy: `${ctx.env['USER'] ?? 'unknown'}@${hostname()}`,
    reason: why,
  });
  const newest = await store.newestApproved(BEHAVIOUR_MODEL);
  ctx.io.out(
    newest?.version === v.version
      ? `approved ${v.name}-v${v.version}: detectors swap to it now\n`
      : `approved ${v.name}-v${v.version}; ${newest?.name}-v${newest?.version} is newer and stays in force\n`,
  );
  return 0;
}

/**
 * `warden detect train --from-stream`: the feature stream's history since a time, trained into a
 * new candidate version in the model store (promote it to put it in force).
 */
export async function trainFromStream(
  ctx: CommandContext,
  options: {
    since: Date;
    windowSeconds: number;
    lookback: number;
    epochs: number;
    batchSize: number;
    seed: number;
    progress(p: TrainProgress): void;
  },
): Promise<{ version: ModelVersion; skipped: string[] }> {
  const store = await openStore(ctx);
  const history = await readFeatureHistory(ctx, options.since, options.windowSeconds);
  if (history.invalid > 0) ctx.io.err(`skipped ${history.invalid} invalid feature messages\n`);
  // Enough windows for the training share and the held-back share (BehaviourModel's default 20 %)
  // to each hold more than a lookback.
  const needed = Math.ceil((options.lookback + 1) / 0.2);
  const skipped: string[] = [];
  for (const [key, rows] of history.windows)
    if (rows.length < needed) {
      skipped.push(`${key} (${rows.length} windows)`);
      history.windows.delete(key);
    }
  if (skipped.length) ctx.io.err(`not enough history (${needed} windows each) for: ${skipped.join(', ')}\n`);
  if (history.windows.size === 0 || !history.from || !history.until)
    throw new UsageError(
      `no workload has ${needed} windows of ${options.windowSeconds}s since ${options.since.toISOString()}: pick an earlier --since`,
    );
  const windows = [...history.windows.values()].reduce((n, rows) => n + rows.length, 0);
  ctx.io.err(
    `training on ${windows} windows of ${history.windows.size} workloads, ${history.from} .. ${history.until}\n`,
  );
  let loss = 0;
  const model = await BehaviourModel.train(history.windows, {
    features: featureNames,
    lookback: options.lookback,
    epochs: options.epochs,
    batchSize: options.batchSize,
    seed: options.seed,
    onProgress: (p) => {
      loss = p.loss;
      options.progress(p);
    },
  });
  try {
    const metrics = model.metrics;
    const version = await store.put(
      {
        name: BEHAVIOUR_MODEL,
        trainedAt: model.trainedAt,
        trainedFrom: history.from,
        trainedUntil: history.until,
        windowSeconds: options.windowSeconds,
        keys: model.keys.length,
        trainingWindows: metrics.trainingWindows,
        features: [...model.features],
        lookback: model.lookback,
        epochs: options.epochs,
        loss: Number.isFinite(loss) ? loss : 0,
        heldOutErrorP50: metrics.heldOutErrorP50,
        heldOutErrorP99: metrics.heldOutErrorP99,
        seed: metrics.seed,
        trainedBy: `${ctx.env['USER'] ?? 'unknown'}@${hostname()}`,
      },
      await model.toBytes(),
    );
    return { version, skipped };
  } finally {
    model.dispose();
  }
}
