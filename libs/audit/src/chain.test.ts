import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChainedRecord, EntryParts, EnvelopeParts } from './chain.ts';
import { ChainHead, parsedRecordHash, recordHash } from './chain.ts';

const DETAILS: readonly unknown[] = [
  {},
  { i: 1, expiresAt: '2026-12-04T07:00:00.000Z' },
  { nested: { z: [1, 2, { y: null }], a: 'é\u20ac\ud83d\ude00' } },
  { quote: '"chain":{"hash":"x",', slash: '\\', big: 1e21, small: -0, list: ['a', { b: true }] },
  { '10': 'index-like', '9': 'names', b: 'x' },
];

const record = (i: number): { data: Record<string, unknown> } & Record<string, unknown> => ({
  id: `id-${i}`,
  time: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString(),
  source: 'ca-1',
  schema: 'warden.audit.v1.record',
  data: {
    kind: 'identity',
    actor: i % 3 === 0 ? 'a "quoted" \\ actor' : 'agent-host-a',
    action: 'ca.token.create',
    target: `spiffe://warden.local/ns/shop/sa/checkout-${i}`,
    outcome: 'success',
    details: DETAILS[i % DETAILS.length],
  },
});

describe('parsedRecordHash', () => {
  it('is recordHash, and the hash ChainHead gave, for records as stored', () => {
    const head = new ChainHead({ principal: 'ca', instance: 'ca-1' });
    for (let i = 0; i < 500; i++) {
      const { text, chain } = head.link(record(i));
      const stored = JSON.parse(text) as ChainedRecord;
      assert.equal(parsedRecordHash(stored), chain.hash, `record ${i}`);
      assert.equal(recordHash(stored), chain.hash, `record ${i}`);
    }
  });

  it('is recordHash for records changed after they were stored, and for ones no writer made', () => {
    const head = new ChainHead({ principal: 'ca', instance: 'ca-1' });
    const variants = (stored: ChainedRecord): unknown[] => [
      { ...stored, data: { ...stored.data, outcome: 'failure' } },
      // An object sorting before `data`: the first "chain":{ may be elsewhere.
      { a: { chain: { hash: stored.data.chain.hash, seq: 1 } }, ...stored },
      { ...stored, data: { ...stored.data, actions: { chain: { hash: stored.data.chain.hash, seq: 1 } } } },
      // A member sorting before `hash` in the link, and a hash that needs escaping.
      { ...stored, data: { ...stored.data, chain: { a: 1, ...stored.data.chain } } },
      { ...stored, data: { ...stored.data, chain: { ...stored.data.chain, hash: `"${'0'.repeat(62)}\\` } } },
    ];
    for (let i = 0; i < 50; i++) {
      const stored = JSON.parse(head.link(record(i)).text) as ChainedRecord;
      for (const [v, changed] of variants(stored).entries()) {
        const parsed = JSON.parse(JSON.stringify(changed)) as ChainedRecord;
        assert.equal(parsedRecordHash(parsed), recordHash(parsed), `record ${i}, variant ${v}`);
      }
    }
  });
});

describe('ChainHead.linkEntry', () => {
  it('writes the very text and hash that link writes, for any details', () => {
    const details: readonly Record<string, unknown>[] = [
      ...(DETAILS as Record<string, unknown>[]),
      { at: new Date(Date.UTC(2026, 11, 4)), z: undefined, a: [null, 1] },
      { é: 1, e: 2, E: 3, '\u{1F600}': 4, '\uFFFF': 5 },
    ];
    const byLink = new ChainHead({ principal: 'ca', instance: 'ca-1' });
    const byEntry = new ChainHead({ principal: 'ca', instance: 'ca-1' });
    for (let i = 0; i < 300; i++) {
      const { data, ...envelope } = record(i);
      const entry = { ...(data as Omit<EntryParts, 'details'>), details: details[i % details.length] ?? {} };
      const expected = byLink.link({ ...envelope, data: entry });
      const actual = byEntry.linkEntry(envelope as EnvelopeParts, entry);
      assert.equal(actual.text, expected.text, `record ${i}`);
      assert.deepEqual(actual.chain, expected.chain, `record ${i}`);
    }
  });

  it('refuses what JSON cannot carry, as link does', () => {
    const head = new ChainHead({ principal: 'ca', instance: 'ca-1' });
    const { data, ...envelope } = record(0);
    const entry = { ...(data as Omit<EntryParts, 'details'>), details: { n: Number.NaN } };
    assert.throws(() => head.linkEntry(envelope as EnvelopeParts, entry), /canonical JSON has no NaN/);
    assert.equal(head.seq, 0);
  });
});
