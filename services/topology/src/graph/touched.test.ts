import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TouchedEdges } from './touched.ts';

describe('TouchedEdges', () => {
  it('holds each edge of a bucket once and hands everything over in time order', () => {
    const touched = new TouchedEdges();
    touched.add(7200, ['a', 'b']);
    touched.add(3600, ['a']);
    touched.add(7200, ['b', 'c']);
    assert.equal(touched.size, 4);
    assert.deepEqual(touched.take(), [
      [3600, new Set(['a'])],
      [7200, new Set(['a', 'b', 'c'])],
    ]);
    assert.equal(touched.size, 0);
    assert.deepEqual(touched.take(), []);
  });

  it('takes back what could not be sent, merged with what came meanwhile', () => {
    const touched = new TouchedEdges();
    touched.add(0, ['a']);
    const [[start, ids] = [0, new Set<string>()]] = touched.take();
    touched.add(0, ['b']);
    touched.add(start, ids);
    assert.deepEqual(touched.take(), [[0, new Set(['b', 'a'])]]);
  });
});
