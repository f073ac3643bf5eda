import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkByBytes } from './chunk.ts';

const encoded = (items: readonly unknown[]): number => Buffer.byteLength(JSON.stringify(items));

describe('chunkByBytes', () => {
  it('keeps every item once, in order, each chunk within the byte budget', () => {
    // Sizes from 10 to ~2 KB, multi-byte characters included: bytes, not characters, count.
    const items = Array.from({ length: 3000 }, (_, i) => ({
      path: `/é${'x'.repeat((i * 7919) % 2000)}`,
      n: i,
    }));
    const chunks = chunkByBytes(items, 64 * 1024, 10_000);
    assert.ok(chunks.length > 1);
    assert.deepEqual(chunks.flat(), items);
    for (const chunk of chunks) assert.ok(encoded(chunk) <= 64 * 1024, `${encoded(chunk)} bytes`);
    // Full, not merely small: adding the next chunk's first item would have broken the budget.
    for (const [i, chunk] of chunks.slice(0, -1).entries())
      assert.ok(encoded([...chunk, chunks[i + 1]?.[0]]) > 64 * 1024);
  });

  it('fills a chunk exactly to the budget', () => {
    const items = ['aaaa', 'bbbb', 'cccc', 'dddd']; // each "xxxx" is 6 bytes
    assert.equal(encoded(items.slice(0, 2)), 15);
    assert.deepEqual(chunkByBytes(items, 15, 100), [
      ['aaaa', 'bbbb'],
      ['cccc', 'dddd'],
    ]);
    assert.deepEqual(chunkByBytes(items, 14, 100), [['aaaa'], ['bbbb'], ['cccc'], ['dddd']]);
  });

  it('caps the items per chunk', () => {
    const chunks = chunkByBytes(
      Array.from({ length: 25 }, (_, i) => i),
      1 << 20,
      10,
    );
    assert.deepEqual(
      chunks.map((c) => c.length),
      [10, 10, 5],
    );
  });

  it('puts an item larger than the budget alone, and returns nothing for nothing', () => {
    assert.deepEqual(chunkByBytes(['a', 'x'.repeat(100), 'b'], 20, 100), [['a'], ['x'.repeat(100)], ['b']]);
    assert.deepEqual(chunkByBytes([], 20, 100), []);
  });
});
