import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, canonicalJsonOfParsed } from './canonical.ts';

describe('canonicalJson (RFC 8785)', () => {
  it('sorts members by UTF-16 code units and drops whitespace', () => {
    // The RFC's own ordering example: code units, not code points or locale.
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew',
      '1': 'One',
      '\ud83d\ude00': 'Emoji',
      '\u0080': 'Control',
      '\u00f6': 'Latin',
    };
    const out = canonicalJson(value);
    const order = Object.keys(value).sort(
      (a, b) => out.indexOf(JSON.stringify(a)) - out.indexOf(JSON.stringify(b)),
    );
    assert.deepEqual(order, ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
    assert.equal(
      canonicalJson({ b: [1, { d: true, c: null }], a: 'x' }),
      '{"a":"x","b":[1,{"c":null,"d":true}]}',
    );
  });

  it('writes numbers as ECMAScript does', () => {
    assert.equal(
      canonicalJson([1e21, 1e-7, -0, 0.1 + 0.2, 333333333.3333333]),
      '[1e+21,1e-7,0,0.30000000000000004,333333333.3333333]',
    );
  });

  it('is the same for the same value built in another member order', () => {
    assert.equal(
      canonicalJson({ x: 1, y: { p: 'q', o: [] } }),
      canonicalJson({ y: { o: [], p: 'q' }, x: 1 }),
    );
  });

  it('refuses what JSON cannot carry instead of dropping it', () => {
    assert.throws(() => canonicalJson(Number.NaN), /NaN/);
    assert.throws(() => canonicalJson([undefined]), /undefined/);
    assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
  });
});

describe('canonicalJsonOfParsed', () => {
  it('is canonicalJson for any parsed value, in order or not', () => {
    for (const text of [
      '{"a":1,"b":{"c":[1,{"e":2,"d":3}]}}',
      '{"10":1,"9":2,"a":null}',
      '{"b":1,"a":2}',
      '[{"z":1},"x",3.5e-7]',
      '{"a":1,"b":2}',
    ])
      assert.equal(canonicalJsonOfParsed(JSON.parse(text)), canonicalJson(JSON.parse(text)), text);
  });

  it('writes a Date as JSON does, so a record hashes what is stored', () => {
    const at = new Date(0);
    assert.equal(canonicalJson({ at }), JSON.stringify({ at }));
  });
});
