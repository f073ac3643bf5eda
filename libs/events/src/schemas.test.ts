import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { events, requests } from './catalog.ts';
import { jsonSchemaOf } from './validate.ts';

/**
 * The JSON Schema of every subject is kept in libs/events/schemas/ for clients in other languages
 * (and for review: a schema change shows up as a diff there). UPDATE_GOLDEN=1 rewrites them.
 */
const dir = join(import.meta.dirname, '..', 'schemas');
const update = process.env['UPDATE_GOLDEN'] === '1';

const expected = new Map<string, Record<string, unknown>>();
for (const def of Object.values(events)) expected.set(`${def.schema}.json`, jsonSchemaOf(def.envelope));
for (const def of Object.values(requests)) {
  expected.set(`${def.subject}.request.json`, jsonSchemaOf(def.requestEnvelope));
  expected.set(`${def.subject}.reply.json`, jsonSchemaOf(def.reply));
}

describe('published JSON Schemas', () => {
  it('match the catalogue', () => {
    if (update) mkdirSync(dir, { recursive: true });
    for (const [file, schema] of expected) {
      const text = `${JSON.stringify(schema, null, 2)}\n`;
      const path = join(dir, file);
      if (update) writeFileSync(path, text);
      assert.ok(existsSync(path), `${file} missing; run with UPDATE_GOLDEN=1`);
      assert.equal(readFileSync(path, 'utf8'), text, `${file} is stale; run with UPDATE_GOLDEN=1`);
    }
    assert.deepEqual(readdirSync(dir).sort(), [...expected.keys()].sort(), 'a schema file has no subject');
  });
});
