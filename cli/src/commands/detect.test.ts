import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AnomalyKind, BehaviourModel, generateSeries } from '@warden/anomaly';
import { runCli } from '../run.ts';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { io: { out: (t) => (out += t), err: (t) => (err += t) }, env: {} });
  return { code, out, err };
}

describe('warden detect score and train on local files', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-detect-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('scores every row of a CSV, the same for any seed, and flags the injected spikes', async () => {
    const { values, windows } = generateSeries(AnomalyKind.spike, 3, 3000);
    const input = join(dir, 'in.csv');
    writeFileSync(input, ['timestamp,value', ...values.map((v, i) => `${i},${v}`)].join('\n') + '\n');
    const a = await cli('detect', 'score', '--csv', input, '--out', join(dir, 'a.csv'), '--seed', '1');
    assert.equal(a.code, 0, a.err);
    assert.match(a.out, /^scored 3000 rows in \d+s; \d+ at or above 0\.85; wrote /);
    const b = await cli('detect', 'score', '--csv', input, '--out', join(dir, 'b.csv'), '--seed', '99');
    assert.equal(b.code, 0, b.err);
    const lines = readFileSync(join(dir, 'a.csv'), 'utf8').trimEnd().split('\n');
    assert.equal(readFileSync(join(dir, 'b.csv'), 'utf8'), readFileSync(join(dir, 'a.csv'), 'utf8'));
    assert.equal(lines[0], 'timestamp,value,anomaly_score');
    assert.equal(lines.length, 3001);
    const scores = lines.slice(1).map((l) => Number(l.split(',')[2]));
    for (const w of windows)
      assert.ok((scores[w.start] ?? 0) >= 0.85, `spike at ${w.start} scored ${scores[w.start]}`);
  });

  it('refuses a bad CSV with its line number and leaves the output untouched', async () => {
    const input = join(dir, 'bad.csv');
    const output = join(dir, 'kept.csv');
    writeFileSync(output, 'previous\n');
    writeFileSync(input, 'timestamp,value\n1,1\n2,oops\n');
    const { code, err } = await cli('detect', 'score', '--csv', input, '--out', output);
    assert.equal(code, 1);
    assert.match(err, /line 3: column "value": "oops" is not a number \[invalid_csv\]/);
    assert.equal(readFileSync(output, 'utf8'), 'previous\n');
    const missing = await cli('detect', 'score', '--csv', join(dir, 'nope.csv'), '--out', output);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /does not exist/);
    const noOut = await cli('detect', 'score', '--csv', input);
    assert.equal(noOut.code, 2);
    assert.match(noOut.err, /--out FILE is required/);
  });

  it('trains a model from feature windows, showing progress, into a file the library loads', async () => {
    const input = join(dir, 'windows.csv');
    const rows = ['timestamp,key,requests,bytesOut'];
    for (let t = 0; t < 120; t++)
      for (const key of ['shop/a', 'shop/b'])
        rows.push(`${t * 10},${key},${20 + 10 * Math.sin(t / 6)},${1000 + 500 * Math.cos(t / 6)}`);
    writeFileSync(input, rows.join('\n') + '\n');
    const model = join(dir, 'model.bin');
    const { code, out, err } = await cli(
      'detect',
      'train',
      '--csv',
      input,
      '--out',
      model,
      '--epochs',
      '2',
      '--lookback',
      '4',
    );
    assert.equal(code, 0, err);
    assert.match(err, /^training on 240 windows of 2 keys, 2 features$/m);
    assert.match(err, /^epoch 2\/2 \[=+\s*\] 100% loss [\d.]+ elapsed \d+s eta 0s$/m);
    assert.match(out, /^wrote .*model\.bin \(\d+ bytes; 2 keys, lookback 4\)$/m);
    const loaded = await BehaviourModel.fromBytes(new Uint8Array(readFileSync(model)));
    assert.deepEqual(loaded.features, ['requests', 'bytesOut']);
    loaded.dispose();
    const bad = await cli(
      'detect',
      'train',
      '--csv',
      input,
      '--out',
      join(dir, 'x.bin'),
      '--features',
      'requests,nope',
    );
    assert.equal(bad.code, 2);
    assert.match(bad.err, /columns the file does not have: nope/);
    assert.equal(existsSync(join(dir, 'x.bin')), false);
  });
});
