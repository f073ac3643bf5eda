import { WardenError } from '@warden/core';
import { TableDetector } from './series.ts';
import type { SeriesOptions } from './series.ts';

/** A malformed input file: the message names the line (1-based, the header is line 1). */
export class CsvError extends WardenError {
  readonly line: number;
  constructor(line: number, message: string) {
    super('invalid_csv', `line ${line}: ${message}`);
    this.line = line;
  }
}

/** Splits one CSV record (RFC 4180 quoting, no line breaks inside quotes). */
export function splitCsvLine(text: string, line: number): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else {
      field += c;
    }
  }
  if (quoted)
    throw new CsvError(line, 'a quoted field is not closed (line breaks inside quotes are not supported)');
  fields.push(field);
  return fields;
}

const missing = new Set(['', 'nan', 'null', 'na', 'n/a', 'none']);

/** A value cell as a number: NaN for an empty or explicitly missing one, an error for text. */
export function parseValue(field: string, line: number, column: string): number {
  const text = field.trim();
  if (missing.has(text.toLowerCase())) return Number.NaN;
  const value = Number(text);
  if (!Number.isFinite(value))
    throw new CsvError(line, `column ${JSON.stringify(column)}: ${JSON.stringify(field)} is not a number`);
  return value;
}

/** One non-blank CSV line: its 1-based number, its text (without BOM or CR) and its fields. */
type CsvRecord = { line: number; text: string; fields: string[] };

/**
 * The non-blank lines of a CSV, split; every record after the first (the header) must have as
 * many fields as the header.
 */
async function* csvRecords(lines: AsyncIterable<string> | Iterable<string>): AsyncGenerator<CsvRecord> {
  let line = 0;
  let width = -1;
  for await (const raw of lines) {
    line++;
    const text = (line === 1 ? raw.replace(/^\uFEFF/, '') : raw).replace(/\r$/, '');
    if (text.trim() === '') continue;
    const fields = splitCsvLine(text, line);
    if (width < 0) width = fields.length;
    else if (fields.length !== width)
      throw new CsvError(line, `${fields.length} fields, but the header has ${width}`);
    yield { line, text, fields };
  }
  if (width < 0) throw new CsvError(Math.max(1, line), 'the file is empty: it needs a header line');
}

export const scoreColumn = 'anomaly_score';

export type ScoreCsvOptions = {
  series?: Partial<SeriesOptions>;
  /** Called every `progressEvery` rows with the rows scored so far. */
  onProgress?: (rows: number) => void;
  progressEvery?: number;
};

/**
 * Scores a `timestamp,value[,value...]` CSV (with a header) as it streams: every output line is
 * its input line plus `anomaly_score`, computed from that row and the ones before it only.
 * Blank lines are skipped; a missing cell (empty, NaN, null, NA) leaves that column out of the
 * row's score. Returns the number of rows scored.
 */
export async function scoreCsv(
  lines: AsyncIterable<string> | Iterable<string>,
  write: (line: string) => void | Promise<void>,
  options: ScoreCsvOptions = {},
): Promise<number> {
  let header: string[] | undefined;
  let detector: TableDetector | undefined;
  let rows = 0;
  const every = options.progressEvery ?? 1000;
  for await (const { line, text, fields } of csvRecords(lines)) {
    if (!header) {
      if (fields.length < 2)
        throw new CsvError(
          line,
          `the header needs timestamp and at least one value column, got ${JSON.stringify(text)}`,
        );
      if (fields.some((f) => f.trim() === scoreColumn))
        throw new CsvError(line, `the input already has an ${scoreColumn} column`);
      header = fields.map((f) => f.trim());
      detector = new TableDetector(header.length - 1, options.series);
      await write(`${text},${scoreColumn}`);
      continue;
    }
    const names = header;
    const values = fields.slice(1).map((f, i) => parseValue(f, line, names[i + 1] ?? ''));
    const score = (detector as TableDetector).update(values);
    await write(`${text},${score.toFixed(6)}`);
    rows++;
    if (options.onProgress && rows % every === 0) options.onProgress(rows);
  }
  return rows;
}

export type FeatureTable = {
  /** The value columns, in file order. */
  features: string[];
  /** Each key's windows in file order (the file must be in time order per key). */
  windows: Map<string, Record<string, number>[]>;
};

/**
 * Reads a CSV of feature windows for training: `timestamp[,key],feature...` with a header. With
 * a `key` column (workload or edge), windows are grouped by it; without one they all belong to
 * the key `default`. Missing cells are left out of their window.
 */
export async function readFeatureCsv(lines: AsyncIterable<string> | Iterable<string>): Promise<FeatureTable> {
  let header: string[] | undefined;
  let keyIndex = -1;
  const windows = new Map<string, Record<string, number>[]>();
  for await (const record of csvRecords(lines)) {
    const fields = record.fields.map((f) => f.trim());
    if (!header) {
      header = fields;
      keyIndex = header.indexOf('key');
      if (header.length - (keyIndex > 0 ? 2 : 1) < 1)
        throw new CsvError(
          record.line,
          'the header needs timestamp, an optional key and at least one feature column',
        );
      continue;
    }
    const key = keyIndex > 0 ? (fields[keyIndex] ?? '') : 'default';
    if (key === '') throw new CsvError(record.line, 'the key is empty');
    const window: Record<string, number> = {};
    header.forEach((name, i) => {
      if (i === 0 || i === keyIndex) return;
      const value = parseValue(fields[i] ?? '', record.line, name);
      if (!Number.isNaN(value)) window[name] = value;
    });
    const list = windows.get(key) ?? [];
    list.push(window);
    windows.set(key, list);
  }
  if (!header) throw new CsvError(1, 'the file is empty: it needs a header line');
  return { features: header.filter((_, i) => i !== 0 && i !== keyIndex), windows };
}
