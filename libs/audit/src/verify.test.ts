import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import type { ChainedRecord, Writer } from './chain.ts';
import { ChainHead, recordHash } from './chain.ts';
import type { Checkpoint } from './checkpoint.ts';
import { checkpointSignedBy, checkpointSigner } from './checkpoint.ts';
import { canonicalJson } from './canonical.ts';
import type { AuditEntry, Problem } from './verify.ts';
import { AuditVerifier } from './verify.ts';

const seedOf = (): string => new TextDecoder().decode(createUser().getSeed());
const writers: Writer[] = [
  { principal: 'ca', instance: 'ca-1' },
  { principal: 'policy', instance: 'policy-1' },
  { principal: 'enforcer', instance: 'enforcer-2' },
];
const seeds = new Map(writers.map((w) => [w.principal, seedOf()]));
const signers = new Map([...seeds].map(([p, seed]) => [p, checkpointSigner(seed)]));
const publicKeys = new Map([...signers].map(([p, s]) => [p, s.publicKey]));

/** `total` records round-robin over the writers, a checkpoint every `every` records of a chain and at the end. */
function auditLog(total: number, every = 250): AuditEntry[] {
  const heads = writers.map((w) => new ChainHead(w));
  const entries: AuditEntry[] = [];
  const checkpoint = (head: ChainHead, reason: Checkpoint['reason']): void => {
    const signer = signers.get(head.writer.principal);
    if (!signer) throw new Error('no signer');
    const cp = signer.sign({
      ...head.writer,
      seq: head.seq,
      hash: head.hash,
      at: new Date(0).toISOString(),
      reason,
    });
    entries.push({
      type: 'checkpoint',
      writer: head.writer,
      position: 0,
      event: { schema: 'checkpoint', data: cp },
    });
  };
  for (let i = 0; i < total; i++) {
    const head = heads[i % heads.length] as ChainHead;
    const record = head.link({
      id: `id-${i}`,
      time: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString(),
      source: head.writer.instance,
      schema: 'warden.audit.v1.record',
      data: {
        actor: head.writer.instance,
        action: 'identity.issue',
        target: `spiffe://x/w${i}`,
        outcome: 'success',
        details: { i },
      },
    });
    entries.push({ type: 'record', writer: head.writer, position: 0, event: JSON.parse(record.text) });
    if (head.seq % every === 0) checkpoint(head, 'count');
  }
  for (const head of heads) checkpoint(head, 'stop');
  return entries;
}

const verify = (entries: readonly AuditEntry[], options: { partial?: boolean } = {}) => {
  const verifier = new AuditVerifier({ publicKeys, ...options });
  entries.forEach((e, i) => verifier.add({ ...e, position: i + 1 }));
  return verifier.finish();
};

/** A deep copy, so each tampering starts from the intact log. */
const copy = (entries: readonly AuditEntry[]): AuditEntry[] => structuredClone(entries) as AuditEntry[];
const indexOf = (entries: readonly AuditEntry[], principal: string, seq: number): number =>
  entries.findIndex(
    (e) =>
      e.type === 'record' &&
      e.writer.principal === principal &&
      (e.event as ChainedRecord).data.chain.seq === seq,
  );
const recordAt = (entries: readonly AuditEntry[], i: number): ChainedRecord =>
  (entries[i] as AuditEntry).event as ChainedRecord;
/** The record's payload, to tamper with. */
const fields = (r: ChainedRecord): Record<string, unknown> => r.data as unknown as Record<string, unknown>;
const brief = (problems: readonly Problem[]) =>
  problems.map((p) => ({ kind: p.kind, chain: p.chain, seq: p.seq }));

describe('AuditVerifier on 10,000 records from three writers', () => {
  const intact = auditLog(10_000);

  it('finds nothing wrong with an intact log, and sums up every chain', () => {
    const report = verify(intact);
    assert.deepEqual(report.problems, []);
    assert.equal(report.ok, true);
    assert.equal(report.records, 10_000);
    assert.deepEqual(
      report.chains.map((c) => [c.chain, c.records, c.lastSeq, c.checkpointedSeq, c.unsignedTail]),
      [
        ['ca/ca-1', 3334, 3334, 3334, 0],
        ['enforcer/enforcer-2', 3333, 3333, 3333, 0],
        ['policy/policy-1', 3333, 3333, 3333, 0],
      ],
    );
  });

  it('names a record modified in place, whether or not its hash was recomputed', () => {
    const raw = copy(intact);
    fields(recordAt(raw, indexOf(raw, 'ca', 1200))).outcome = 'failure';
    assert.deepEqual(brief(verify(raw).problems), [{ kind: 'modified', chain: 'ca/ca-1', seq: 1200 }]);

    const rehashed = copy(intact);
    const record = recordAt(rehashed, indexOf(rehashed, 'policy', 77));
    fields(record).target = 'spiffe://x/somebody-else';
    record.data.chain.hash = recordHash(record);
    assert.deepEqual(brief(verify(rehashed).problems), [
      { kind: 'modified', chain: 'policy/policy-1', seq: 77 },
    ]);
  });

  it('names a deleted record and a deleted run of records', () => {
    const one = copy(intact);
    one.splice(indexOf(one, 'enforcer', 500), 1);
    assert.deepEqual(brief(verify(one).problems), [
      { kind: 'deleted', chain: 'enforcer/enforcer-2', seq: 500 },
    ]);

    const run = copy(intact).filter((e) => {
      const seq = e.type === 'record' ? (e.event as ChainedRecord).data.chain.seq : 0;
      return !(e.writer.principal === 'ca' && seq >= 10 && seq <= 12);
    });
    assert.deepEqual(brief(verify(run).problems), [{ kind: 'deleted', chain: 'ca/ca-1', seq: [10, 12] }]);
  });

  it('names an inserted record, wherever it is put', () => {
    const raw = copy(intact);
    const original = recordAt(raw, indexOf(raw, 'policy', 2000));
    const fake = structuredClone(original);
    fields(fake).action = 'policy.commit';
    fake.data.chain.hash = recordHash(fake);
    // Before the genuine one: the chain's own commitment tells them apart.
    raw.splice(indexOf(raw, 'policy', 1999), 0, {
      type: 'record',
      writer: writers[1] as Writer,
      position: 0,
      event: fake,
    });
    assert.deepEqual(brief(verify(raw).problems), [
      { kind: 'inserted', chain: 'policy/policy-1', seq: 2000 },
    ]);
  });

  it('names records stored out of order', () => {
    const raw = copy(intact);
    const a = indexOf(raw, 'ca', 3000);
    const b = indexOf(raw, 'ca', 3001);
    [raw[a], raw[b]] = [raw[b] as AuditEntry, raw[a] as AuditEntry];
    assert.deepEqual(brief(verify(raw).problems), [{ kind: 'reordered', chain: 'ca/ca-1', seq: 3000 }]);
  });

  it('names a record forged under another writer, and a forged checkpoint', () => {
    const raw = copy(intact);
    const forged = structuredClone(recordAt(raw, indexOf(raw, 'ca', 5)));
    forged.data.chain.seq = 9999;
    forged.data.chain.hash = recordHash(forged);
    raw.push({ type: 'record', writer: writers[2] as Writer, position: 0, event: forged });
    assert.deepEqual(brief(verify(raw).problems), [
      { kind: 'forged', chain: 'enforcer/enforcer-2', seq: 9999 },
    ]);

    const cps = copy(intact);
    const at = cps.findIndex((e) => e.type === 'checkpoint' && e.writer.principal === 'policy');
    const cp = (cps[at] as AuditEntry).event as { data: Checkpoint };
    cp.data.seq += 1;
    // Signed, but with the enforcer's key: still not the policy service's.
    const wrongKey = signers
      .get('enforcer')
      ?.sign({ ...(writers[1] as Writer), seq: 3, hash: cp.data.hash, at: cp.data.at, reason: 'count' });
    cps.push({ type: 'checkpoint', writer: writers[1] as Writer, position: 0, event: { data: wrongKey } });
    assert.deepEqual(brief(verify(cps).problems), [
      { kind: 'forged-checkpoint', chain: 'policy/policy-1', seq: 251 },
      { kind: 'forged-checkpoint', chain: 'policy/policy-1', seq: 3 },
    ]);
  });

  it('names a chain truncated after its last checkpoint', () => {
    const raw = copy(intact).filter(
      (e) =>
        !(
          e.type === 'record' &&
          e.writer.principal === 'enforcer' &&
          (e.event as ChainedRecord).data.chain.seq > 3300
        ),
    );
    assert.deepEqual(brief(verify(raw).problems), [
      { kind: 'truncated', chain: 'enforcer/enforcer-2', seq: [3301, 3333] },
    ]);
  });

  it('reports the records after the last checkpoint as not yet signed, without calling them a problem', () => {
    const raw = copy(intact).filter(
      (e) =>
        !(
          e.type === 'checkpoint' &&
          e.writer.principal === 'ca' &&
          (e.event as { data: Checkpoint }).data.reason === 'stop'
        ),
    );
    const report = verify(raw);
    assert.deepEqual(report.problems, []);
    assert.equal(report.chains.find((c) => c.chain === 'ca/ca-1')?.unsignedTail, 3334 - 3250);
  });

  it('does not trust a checkpoint of a principal it has no key for', () => {
    const verifier = new AuditVerifier({ publicKeys: new Map() });
    for (const e of intact.slice(0, 2000)) verifier.add(e);
    const kinds = new Set(verifier.finish().problems.map((p) => p.kind));
    assert.deepEqual([...kinds], ['forged-checkpoint']);
  });

  it('accepts a window that starts mid-chain only when told the input is partial', () => {
    const windowed = intact.slice(3000);
    assert.deepEqual(verify(windowed, { partial: true }).problems, []);
    assert.deepEqual(new Set(verify(windowed).problems.map((p) => p.kind)), new Set(['deleted']));
  });
});

describe('checkpoint signatures', () => {
  it('are nkey signatures: nkeys itself verifies them, and one changed byte fails', async () => {
    const { fromPublic } = await import('@nats-io/nkeys');
    const seed = seedOf();
    const signer = checkpointSigner(seed);
    const cp = signer.sign({
      principal: 'ca',
      instance: 'ca-1',
      seq: 7,
      hash: 'a'.repeat(43),
      at: new Date(0).toISOString(),
      reason: 'stop',
    });
    const { signature, ...signed } = cp;
    const bytes = new TextEncoder().encode(canonicalJson(signed));
    assert.ok(fromPublic(signer.publicKey).verify(bytes, Buffer.from(signature, 'base64url')));
    assert.ok(checkpointSignedBy(cp, signer.publicKey));
    assert.ok(!checkpointSignedBy({ ...cp, seq: 8 }, signer.publicKey));
    assert.ok(!checkpointSignedBy(cp, checkpointSigner(seedOf()).publicKey));
  });
});
