import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CsvError, readFeatureCsv, scoreCsv, splitCsvLine } from './csv.ts';

async function score(text: string): Promise<string[]> {
  const out: string[] = [];
  await scoreCsv(text.split('\n'), (line) => void out.push(line));
  return out;
}

async function csvError(text: string): Promise<CsvError> {
  try {
    await score(text);
  } catch (err) {
    assert.ok(err instanceof CsvError, String(err));
    return err;
  }
  assert.fail('no error');
}

describe('scoreCsv', () => {
  it('writes every input line unchanged plus anomaly_score, for every row', async () => {
    const rows = Array.from(
      { length: 100 },
      (_, i) => `2026-01-01T00:${String(i % 60).padStart(2, '0')}:00Z,${i % 7},"x,${i}"`,
    );
    const out = await score(
      ['time,a,b', ...rows]
        .join('\n')
        .replace('"x,5"', '')
        .replace(/"x,\d+"/g, (m) => String(m.length)),
    );
    assert.equal(out[0], 'time,a,b,anomaly_score');
    assert.equal(out.length, 101);
    for (const line of out.slice(1)) assert.match(line, /,[01]\.\d{6}$/);
  });

  it('accepts CRLF, a byte-order mark, quoted fields, blank lines and missing values', async () => {
    const out = await score('\uFEFF"time",v\r\n1,1\r\n\r\n2,\r\n3,NaN\r\n4,NA\r\n5,2\r\n');
    assert.equal(out[0], '"time",v,anomaly_score');
    assert.deepEqual(
      out.slice(1).map((l) => l.split(',').slice(0, 2).join(',')),
      ['1,1', '2,', '3,NaN', '4,NA', '5,2'],
    );
  });

  it('names the line of a bad value, a wrong field count, an open quote, or a missing header', async () => {
    assert.equal((await csvError('t,v\n1,2\n2,abc\n')).line, 3);
    assert.equal((await csvError('t,v\n1,2\n2,3,4\n')).line, 3);
    assert.equal((await csvError('t,v\n1,"2\n')).line, 2);
    assert.equal((await csvError('')).code, 'invalid_csv');
    assert.equal((await csvError('timestamp\n1\n')).line, 1);
    assert.equal((await csvError('t,anomaly_score\n1,2\n')).line, 1);
  });
});

describe('splitCsvLine', () => {
  it('unquotes doubled quotes', () => {
    assert.deepEqual(splitCsvLine('a,"b ""c"", d",e', 1), ['a', 'b "c", d', 'e']);
  });
});

describe('readFeatureCsv', () => {
  it('groups windows by key in file order and leaves missing cells out', async () => {
    const table = await readFeatureCsv(['t,key,requests,bytesOut', '1,a,1,10', '1,b,2,', '2,a,3,30']);
    assert.deepEqual(table.features, ['requests', 'bytesOut']);
    assert.deepEqual(table.windows.get('a'), [
      { requests: 1, bytesOut: 10 },
      { requests: 3, bytesOut: 30 },
    ]);
    assert.deepEqual(table.windows.get('b'), [{ requests: 2 }]);
  });
});
