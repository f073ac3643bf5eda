import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { compileValidator, isoTime } from './validate.ts';

describe('compiled validators', () => {
  const tagged = compileValidator(
    z.object({
      item: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('a'), size: z.number().int() }),
        z.object({ kind: z.literal('b'), name: z.string().default('anon') }),
      ]),
    }),
  );

  it('names the tag and the allowed values of a tagged union', () => {
    assert.deepEqual(tagged({ item: { kind: 'c' } }), {
      ok: false,
      issues: ['item.kind: "c" is not one of a, b'],
    });
  });

  it('reports the failing branch only, and fills defaults', () => {
    assert.deepEqual(tagged({ item: { kind: 'a', size: 1.5 } }), {
      ok: false,
      issues: ['item.size: must be integer'],
    });
    assert.deepEqual(tagged({ item: { kind: 'b' } }), {
      ok: true,
      value: { item: { kind: 'b', name: 'anon' } },
    });
  });

  it('checks RFC 3339 times with an offset', () => {
    const time = compileValidator(z.object({ at: isoTime }));
    assert.equal(time({ at: '2026-11-26T05:00:00.123Z' }).ok, true);
    assert.equal(time({ at: '2026-11-26T05:00:00+01:00' }).ok, true);
    assert.equal(time({ at: '2026-11-26 05:00:00' }).ok, false);
    assert.equal(time({ at: '2026-11-26T05:00:00' }).ok, false);
  });
});
