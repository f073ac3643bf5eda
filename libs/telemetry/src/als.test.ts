import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { MethodDefinition } from '@grpc/grpc-js';
import { loadAccessLogService } from '@warden/envoy';
import type { AlsMessage, AlsStreamContext } from './als.ts';
import { translateAls } from './als.ts';

/**
 * Golden files in `testdata/als`: `<case>.stream.json` (the messages of one ALS stream, in order,
 * as Envoy would send them) beside `<case>.records.json` (the access records and skipped count).
 * Each message goes through Envoy's own protos first (encoded, then decoded as the gRPC server
 * decodes it), so a shape the protos do not accept fails here. `UPDATE_GOLDEN=1` rewrites them.
 */

const dir = join(import.meta.dirname, 'testdata', 'als');
const update = process.env['UPDATE_GOLDEN'] === '1';
const method = loadAccessLogService().service['StreamAccessLogs'] as MethodDefinition<unknown, unknown>;
const asEnvoySends = (json: unknown): AlsMessage =>
  method.requestDeserialize(method.requestSerialize(json)) as AlsMessage;
/** Envoy always sets start_time; when a case leaves it out, the arrival time is this. */
const arrival = (): Date => new Date('2025-12-04T06:00:00.000Z');

describe('ALS StreamAccessLogsMessage → access records (golden)', () => {
  const cases = readdirSync(dir)
    .filter((f) => f.endsWith('.stream.json'))
    .map((f) => f.slice(0, -'.stream.json'.length))
    .sort();
  assert.ok(cases.length >= 4);
  for (const name of cases) {
    it(name, () => {
      const messages = JSON.parse(readFileSync(join(dir, `${name}.stream.json`), 'utf8')) as unknown[];
      let context: AlsStreamContext | undefined;
      const out: unknown[] = [];
      for (const message of messages) {
        const translated = translateAls(asEnvoySends(message), context, arrival);
        context = translated.context;
        out.push({ records: translated.records, skipped: translated.skipped });
      }
      const text = `${JSON.stringify(out, null, 2)}\n`;
      const path = join(dir, `${name}.records.json`);
      if (update) writeFileSync(path, text);
      assert.equal(text, readFileSync(path, 'utf8'), name);
    });
  }
});
