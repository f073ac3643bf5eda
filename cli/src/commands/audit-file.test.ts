import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { AuditVerifier, ChainHead, checkpointSigner } from '@warden/audit';
import { verifyFile } from './audit-file.ts';

describe('verifyFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-audit-file-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const signer = checkpointSigner(new TextDecoder().decode(createUser().getSeed()));
  const head = new ChainHead({ principal: 'ca', instance: 'ca-1' });
  const lines: string[] = [];
  // About 3 MiB: several of the 1 MiB slices the file is read in.
  for (let i = 0; i < 6000; i++) {
    const event = head.link({
      id: `id-${i}`,
      time: new Date(i).toISOString(),
      source: 'ca-1',
      schema: 'warden.audit.v1.record',
      data: {
        kind: 'identity',
        actor: 'a',
        action: 'ca.token.create',
        target: `t-${i}`,
        outcome: 'success',
        details: { pad: 'x'.repeat(300) },
      },
    });
    lines.push(
      JSON.stringify({
        type: 'record',
        subject: 'warden.audit.v1.record.ca.ca-1',
        streamSeq: i + 1,
        event: JSON.parse(event.text) as unknown,
      }),
    );
  }
  const cp = signer.sign({
    principal: 'ca',
    instance: 'ca-1',
    seq: head.seq,
    hash: head.hash,
    at: new Date(0).toISOString(),
    reason: 'stop',
  });
  lines.push(
    JSON.stringify({
      type: 'checkpoint',
      subject: 'warden.audit.v1.checkpoint.ca.ca-1',
      event: { data: cp },
    }),
  );
  // Damage in different slices: a changed record, a line that is not JSON, a deleted record.
  lines[1500] = lines[1500]?.replace('"outcome":"success"', '"outcome":"failure"') ?? '';
  lines.splice(3000, 0, '{not json');
  lines.splice(4500, 1);
  const file = join(dir, 'audit.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);

  const verify = async (parallelFromBytes: number) => {
    const verifier = new AuditVerifier({ publicKeys: new Map([['ca', signer.publicKey]]) });
    let counted = 0;
    await verifyFile(file, verifier, (n) => (counted += n), parallelFromBytes);
    return { report: verifier.finish(), counted };
  };

  it('names each problem with its line, read on this thread or by worker threads alike', async () => {
    const alone = await verify(Number.POSITIVE_INFINITY);
    const workers = await verify(0);
    assert.deepEqual(workers, alone);
    assert.equal(alone.counted, 6000);
    assert.deepEqual(
      alone.report.problems.map((p) => [p.kind, p.seq, p.position]),
      [
        ['malformed', undefined, 3001],
        ['deleted', 4500, undefined],
        ['modified', 1501, 1501],
      ],
    );
  });

  it('verifies a line formatted otherwise by what it holds, and still finds a change there', async () => {
    const small = new ChainHead({ principal: 'ca', instance: 'ca-3' });
    const events = [0, 1, 2, 3].map(
      (i) =>
        JSON.parse(
          small.link({
            id: `id-${i}`,
            time: new Date(i).toISOString(),
            source: 'ca-3',
            schema: 'warden.audit.v1.record',
            data: {
              kind: 'identity',
              actor: 'a',
              action: 'x',
              target: `t-${i}`,
              outcome: 'success',
              details: { i },
            },
          }).text,
        ) as Record<string, unknown>,
    );
    const subject = 'warden.audit.v1.record.ca.ca-3';
    const reversed = (value: Record<string, unknown>): Record<string, unknown> =>
      Object.fromEntries(Object.entries(value).reverse());
    const text = [
      JSON.stringify({ type: 'record', subject, event: events[0] }),
      // Members in another order, event first, spaces: the same record.
      JSON.stringify({ event: reversed(events[1] ?? {}), subject, type: 'record' }, null, 1).replace(
        /\n/g,
        '',
      ),
      // The same layout as exported, one value changed.
      JSON.stringify({ type: 'record', subject, event: events[2] }).replace(
        '"target":"t-2"',
        '"target":"t-9"',
      ),
      JSON.stringify({ type: 'record', subject, event: events[3] }),
    ].join('\n');
    const formatted = join(dir, 'formatted.jsonl');
    writeFileSync(formatted, `${text}\n`);
    const verifier = new AuditVerifier({ publicKeys: new Map([['ca', signer.publicKey]]) });
    await verifyFile(formatted, verifier, () => undefined, Number.POSITIVE_INFINITY);
    assert.deepEqual(
      verifier.finish().problems.map((p) => [p.kind, p.seq, p.position]),
      [['modified', 3, 3]],
    );
  });

  it('does not verify a record whose member names JSON.parse may misread, and says so', async () => {
    assert.throws(
      () =>
        new ChainHead({ principal: 'ca', instance: 'ca-2' }).link({
          data: {
            kind: 'identity',
            actor: 'a',
            action: 'x',
            target: 't',
            outcome: 'success',
            details: { '\n': 1 },
          },
        }),
      /member name of one character that JSON escapes/,
    );
    const small = new ChainHead({ principal: 'ca', instance: 'ca-2' });
    // The writer refuses such names (ChainHead.link), so these lines are edited after linking.
    const text = ['\\', '\n', 'name']
      .map((name, i) => {
        const event = small.link({
          id: `id-${i}`,
          time: new Date(i).toISOString(),
          source: 'ca-2',
          schema: 'warden.audit.v1.record',
          data: {
            kind: 'identity',
            actor: 'a',
            action: 'x',
            target: 't',
            outcome: 'success',
            details: { name: 1 },
          },
        });
        return `{"type":"record","subject":"warden.audit.v1.record.ca.ca-2","event":${event.text.replace('"name":1', `${JSON.stringify(name)}:1`)}}`;
      })
      .join('\n');
    const misread = join(dir, 'misread.jsonl');
    writeFileSync(misread, `${text}\n`);
    const verifier = new AuditVerifier({ publicKeys: new Map([['ca', signer.publicKey]]) });
    await verifyFile(misread, verifier, () => undefined, Number.POSITIVE_INFINITY);
    const { problems } = verifier.finish();
    assert.deepEqual(
      problems.map((p) => [p.kind, p.position]),
      [
        ['malformed', 1],
        ['malformed', 2],
        ['deleted', undefined],
      ],
    );
    assert.match(problems[0]?.message ?? '', /one escaped character/);
  });
});
