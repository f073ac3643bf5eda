import {
  BaselineScorer,
  BehaviourModel,
  featureNames,
  foldWindows,
  generateMeshDataset,
  StreamingRules,
} from '@warden/anomaly';
import type { Benchmark } from './benchmark.ts';
import { microsSince, round, target } from './benchmark.ts';

/**
 * The LSTM behaviour baseline on tfjs's WebAssembly backend. Training: `workloads` workloads of
 * `hours` hours of 10 s windows of the synthetic mesh for `epochs` epochs; the time for the
 * issue's 24 h × 20 workloads is extrapolated linearly from the windows trained per second
 * (training cost is linear in windows × epochs). Inference: every workload's next window scored
 * in one batch, as the detector does each 10 s (`windows` windows in all). Baseline: the streaming rules on the same windows,
 * windows/s measured in the same run.
 */
export const lstm: Benchmark = {
  name: 'lstm',
  description:
    'LSTM inference windows/s and training time (24 h of 10 s windows × 20 workloads, extrapolated)',
  defaults: { workloads: 20, hours: 2, epochs: 1, windows: 20_000, seed: 1 },
  async run(params, progress) {
    const workloads = params['workloads'] ?? 20;
    const trainHours = params['hours'] ?? 2;
    const epochs = params['epochs'] ?? 1;
    const dataset = generateMeshDataset({
      seed: params['seed'] ?? 1,
      workloads,
      hours: trainHours * 2,
      perKind: 0,
    });
    const windows = dataset.windows.map((rows) => {
      const out: Record<string, number>[] = [];
      for (let t = 0; t + 10 <= rows.length; t += 10) out.push(foldWindows(rows.slice(t, t + 10)));
      return out;
    });
    const half = Math.floor((windows[0]?.length ?? 0) / 2);
    const history = new Map(dataset.keys.map((key, k) => [key, (windows[k] ?? []).slice(0, half)]));
    const trainingWindows = half * workloads;
    let start = process.hrtime.bigint();
    const model = await BehaviourModel.train(history, {
      features: featureNames,
      epochs,
      onProgress: (p) => {
        if (p.batch === p.batches)
          progress(`epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)} (${round(p.elapsedMs / 1000)} s)`);
      },
    });
    const trainingSeconds = microsSince(start) / 1e6;
    const windowEpochsPerSec = (trainingWindows * epochs) / trainingSeconds;
    const issueWindows = 24 * 360 * 20;
    try {
      const scorer = new BaselineScorer(model);
      const total = params['windows'] ?? 20_000;
      const batches: { key: string; features: Record<string, number> }[][] = [];
      for (let w = 0; batches.length * workloads < total; w++)
        batches.push(
          dataset.keys.map((key, k) => ({ key, features: windows[k]?.[half + (w % half)] ?? {} })),
        );
      // Fill each key's lookback first: only full histories are scored.
      for (const b of batches.slice(0, model.lookback)) scorer.observe(b);
      const timed = batches.slice(model.lookback);
      start = process.hrtime.bigint();
      let scored = 0;
      for (const b of timed) scored += scorer.observe(b).filter((s) => s !== null).length;
      const inferenceSeconds = microsSince(start) / 1e6;

      const rules = new StreamingRules();
      start = process.hrtime.bigint();
      let observed = 0;
      for (const b of timed)
        for (const w of b) {
          rules.observe({ key: w.key, end: observed, features: w.features });
          observed++;
        }
      const rulesSeconds = microsSince(start) / 1e6;
      const inferencePerSec = scored / inferenceSeconds;
      return {
        results: {
          trainingWindows,
          epochs,
          trainingSeconds: round(trainingSeconds, 1),
          trainingWindowEpochsPerSec: round(windowEpochsPerSec, 1),
          extrapolated24hx20WorkloadsSecondsPerEpoch: round(issueWindows / windowEpochsPerSec, 0),
          inferenceWindows: scored,
          inferenceWindowsPerSec: Math.round(inferencePerSec),
          batchSize: workloads,
        },
        baseline: { rulesWindows: observed, rulesWindowsPerSec: Math.round(observed / rulesSeconds) },
        ratio: round(inferencePerSec / (observed / rulesSeconds), 3),
        target: target(
          'scores every workload of a 20-workload mesh each 10 s window with room to spare (>= 200 windows/s)',
          'results.inferenceWindowsPerSec',
          inferencePerSec,
          '>=',
          200,
        ),
      };
    } finally {
      model.dispose();
    }
  },
};
