import { createReadStream, createWriteStream, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { generateSeries, scoreCsv } from '@warden/anomaly';
import { tempDir } from '@warden/testing';
import type { Benchmark } from './benchmark.ts';
import { microsSince, round, target } from './benchmark.ts';

/**
 * `warden detect score`'s pipeline (file in, streaming scorer, file out) on a generated
 * `rows`-row CSV with `columns` value columns. Baseline: the same file read line by line and
 * written back unchanged, so the ratio is the share of the raw I/O speed the scoring keeps.
 */
async function pass(input: string, output: string, score: boolean): Promise<number> {
  const lines = createInterface({
    input: createReadStream(input, { encoding: 'utf8' }),
    crlfDelay: Infinity,
  });
  const out = createWriteStream(output, { encoding: 'utf8' });
  const write = async (line: string): Promise<void> => {
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  };
  let rows = 0;
  if (score) rows = await scoreCsv(lines, write);
  else
    for await (const line of lines) {
      await write(line);
      rows++;
    }
  out.end();
  await once(out, 'finish');
  return score ? rows : rows - 1;
}

export const detectScore: Benchmark = {
  name: 'detect-score',
  description: 'warden detect score: rows/s on a generated CSV (default 20,000 rows)',
  defaults: { rows: 20_000, columns: 1, rounds: 3 },
  async run(params, progress) {
    const rows = params['rows'] ?? 20_000;
    const columns = params['columns'] ?? 1;
    const dir = tempDir('bench-detect-score');
    const input = join(dir, 'in.csv');
    const series = Array.from(
      { length: columns },
      (_, c) => generateSeries('level-shift', 17 + c, rows).values,
    );
    const lines = ['timestamp,' + series.map((_, c) => `v${c}`).join(',')];
    for (let i = 0; i < rows; i++) lines.push(`${i},${series.map((s) => (s[i] ?? 0).toFixed(5)).join(',')}`);
    writeFileSync(input, `${lines.join('\n')}\n`);
    const scoredSeconds: number[] = [];
    const rawSeconds: number[] = [];
    for (let r = 0; r < (params['rounds'] ?? 3); r++) {
      let start = process.hrtime.bigint();
      const scored = await pass(input, join(dir, 'out.csv'), true);
      scoredSeconds.push(microsSince(start) / 1e6);
      start = process.hrtime.bigint();
      const copied = await pass(input, join(dir, 'copy.csv'), false);
      rawSeconds.push(microsSince(start) / 1e6);
      if (scored !== rows || copied !== rows)
        throw new Error(`scored ${scored} and copied ${copied} of ${rows} rows`);
      progress(
        `round ${r + 1}: scored in ${round(scoredSeconds.at(-1) ?? 0, 2)} s, copied in ${round(rawSeconds.at(-1) ?? 0, 2)} s`,
      );
    }
    const best = Math.min(...scoredSeconds);
    const bestRaw = Math.min(...rawSeconds);
    return {
      results: {
        rows,
        columns,
        seconds: scoredSeconds.map((s) => round(s, 3)),
        rowsPerSec: Math.round(rows / best),
      },
      baseline: { seconds: rawSeconds.map((s) => round(s, 3)), rowsPerSec: Math.round(rows / bestRaw) },
      ratio: round(bestRaw / best, 3),
      target: target(`${rows} rows scored in under a minute`, 'results.seconds (best)', best, '<', 60),
    };
  },
};
