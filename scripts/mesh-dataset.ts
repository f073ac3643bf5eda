/**
 * `node scripts/mesh-dataset.ts DIR [--seed N] [--workloads N] [--hours N]`: writes the labelled
 * synthetic mesh (`generateMeshDataset` in @warden/anomaly) as CSV files, to feed `warden detect
 * train` and `warden detect score` or any other tool:
 *
 *   features-1s.csv   timestamp,key,<features...>  every workload's 1 s windows, in time order
 *   features-10s.csv  the same folded into 10 s windows (what the LSTM is trained on)
 *   attacks.csv       kind,key,start,end,intensity  the labels (ISO times, end inclusive)
 *
 * The same arguments always write the same bytes.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { featureNames, foldWindows, generateMeshDataset } from '@warden/anomaly';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seed: { type: 'string' }, workloads: { type: 'string' }, hours: { type: 'string' } },
});
const dir = positionals[0];
const number = (name: string, fallback: number): number => {
  const text = values[name as keyof typeof values];
  const n = text === undefined ? fallback : Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`mesh-dataset: --${name} needs a positive number, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
};
if (!dir) {
  process.stderr.write('usage: node scripts/mesh-dataset.ts DIR [--seed N] [--workloads N] [--hours N]\n');
  process.exit(2);
}
const dataset = generateMeshDataset({
  seed: number('seed', 1),
  workloads: number('workloads', 20),
  hours: number('hours', 4),
});
mkdirSync(resolve(dir), { recursive: true });

async function write(file: string, lines: Iterable<string>): Promise<void> {
  const out = createWriteStream(join(dir as string, file));
  for (const line of lines) if (!out.write(`${line}\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

const iso = (second: number): string => new Date(dataset.startMs + second * 1000).toISOString();
const row = (second: number, key: string, w: Record<string, number>): string =>
  [iso(second), key, ...featureNames.map((f) => Number((w[f] ?? 0).toFixed(3)))].join(',');

function* windows(size: number): Generator<string> {
  yield ['timestamp', 'key', ...featureNames].join(',');
  for (let t = 0; t + size <= dataset.seconds; t += size)
    for (const [k, key] of dataset.keys.entries()) {
      const rows = dataset.windows[k] ?? [];
      yield row(t + size, key, size === 1 ? (rows[t] ?? {}) : foldWindows(rows.slice(t, t + size)));
    }
}

await write('features-1s.csv', windows(1));
await write('features-10s.csv', windows(10));
await write('attacks.csv', [
  'kind,key,start,end,intensity',
  ...dataset.attacks.map((a) => `${a.kind},${a.key},${iso(a.start)},${iso(a.end)},${a.intensity.toFixed(3)}`),
]);
process.stdout.write(
  `wrote ${dir}: ${dataset.keys.length} workloads × ${dataset.seconds} s, ${dataset.attacks.length} attacks\n`,
);
