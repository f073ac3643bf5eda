import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ChainHead, checkpointSigner, recordHash } from '@warden/audit';
import type { ChainedRecord, Problem } from '@warden/audit';
import { runCli } from '@warden/cli';
import type { ExportLine } from '@warden/cli';
import { audit, auditCheckpoint, Bus, newEnvelope, provision, StreamName, subjectOf } from '@warden/events';
import type { ServiceName } from '@warden/events';
import { captureOutput, cliEnv, tempDir, useNats } from '@warden/testing';
import type { TestNats } from '@warden/testing';

/**
 * The audit log on a real nats-server with the generated permissions: chains written through
 * `Bus.audit` by services' own credentials, read back and checked with `warden audit`, and
 * tampered with in every way the verifier must name.
 */

const entry = (i: number) => ({
  kind: 'identity',
  actor: `tester-${i % 7}`,
  action: i % 2 ? 'ca.token.create' : 'policy.commit',
  target: `spiffe://warden.local/ns/shop/sa/w${i}`,
  outcome: 'success' as const,
  details: { i, workload: `shop/w${i % 5}` },
});

function writerBus(nats: TestNats, principal: ServiceName, instance: string, every = 500) {
  return async (): Promise<Bus> => {
    const seed = nats.credentials.get(principal)?.seed;
    if (!seed) throw new Error(`no seed for ${principal}`);
    return new Bus(await nats.connect(principal), {
      source: instance,
      audit: {
        principal,
        signer: checkpointSigner(seed),
        checkpointEvery: every,
        checkpointIntervalMs: 60_000,
      },
    });
  };
}

async function provisionAudit(nats: TestNats): Promise<void> {
  await provision(await nats.connect('enforcer'), {
    streams: [StreamName.audit],
    peopleMirrors: [StreamName.audit],
  });
}

/** The public keys an auditor is handed, as `warden audit keys` prints them. */
function keysFile(nats: TestNats): string {
  const file = join(tempDir('audit-keys'), 'keys.json');
  const keys = Object.fromEntries([...nats.credentials].map(([identity, c]) => [identity, c.publicKey]));
  writeFileSync(file, JSON.stringify(keys));
  return file;
}

const cli = (nats: TestNats, argv: string[], identity = 'admin') =>
  captureOutput((io) => runCli([...argv, '--identity', identity], { io, env: cliEnv(nats, identity) }));

type Report = { ok: boolean; records: number; checkpoints: number; problems: Problem[] };
const brief = (problems: readonly Problem[]) =>
  problems.map((p) => ({ kind: p.kind, chain: p.chain, seq: p.seq }));

describe('the audit log', () => {
  const nats = useNats();

  it('keeps 10,000 records of three writers in chains that verify, and names each way an export was tampered with', async () => {
    await provisionAudit(nats.get());
    const writers = await Promise.all([
      writerBus(nats.get(), 'ca', 'ca-1')(),
      writerBus(nats.get(), 'policy', 'policy-1')(),
      writerBus(nats.get(), 'enforcer', 'enforcer-1')(),
    ]);
    const total = 10_000;
    for (let i = 0; i < total; i += 300) {
      await Promise.all(
        Array.from({ length: Math.min(300, total - i) }, (_, k) => writers[(i + k) % 3]?.audit(entry(i + k))),
      );
    }
    await Promise.all(writers.map((w) => w.closeAudit()));
    const keys = keysFile(nats.get());

    const exported = await cli(nats.get(), ['audit', 'export']);
    assert.equal(exported.code, 0, exported.err);
    const lines = exported.out.trimEnd().split('\n');
    // 3334 + 3333 + 3333 records; checkpoints every 500 of each chain and one at each stop.
    assert.equal(lines.length, total + 6 + 6 + 6 + 3);
    const dir = tempDir('audit-export');
    const verifyFile = async (text: string): Promise<{ code: number; report: Report }> => {
      const file = join(dir, 'audit.jsonl');
      writeFileSync(file, text);
      const run = await cli(nats.get(), ['audit', 'verify', file, '--public-keys', keys, '-o', 'json']);
      return { code: run.code, report: JSON.parse(run.out) as Report };
    };
    const intact = await verifyFile(exported.out);
    assert.deepEqual([intact.code, intact.report.problems, intact.report.records], [0, [], total]);

    const parsed = lines.map((l) => JSON.parse(l) as ExportLine);
    const at = (principal: string, seq: number): number =>
      parsed.findIndex(
        (l) =>
          l.type === 'record' &&
          l.subject.includes(`.${principal}.`) &&
          (l.event as ChainedRecord).data.chain.seq === seq,
      );
    const tampered = async (change: (copy: ExportLine[]) => void) => {
      const copy = structuredClone(parsed);
      change(copy);
      const { code, report } = await verifyFile(copy.map((l) => JSON.stringify(l)).join('\n'));
      assert.equal(code, 1);
      return brief(report.problems);
    };
    const data = (l: ExportLine | undefined) =>
      (l?.event as { data: Record<string, unknown> & ChainedRecord['data'] }).data;

    assert.deepEqual(
      await tampered((c) => {
        data(c[at('ca', 10)]).outcome = 'failure';
      }),
      [{ kind: 'modified', chain: 'ca/ca-1', seq: 10 }],
    );
    assert.deepEqual(await tampered((c) => void c.splice(at('policy', 1234), 1)), [
      { kind: 'deleted', chain: 'policy/policy-1', seq: 1234 },
    ]);
    assert.deepEqual(
      await tampered((c) => {
        const fake = structuredClone(c[at('enforcer', 99)]) as ExportLine;
        data(fake).action = 'containment.release';
        const record = fake.event as ChainedRecord;
        record.data.chain.hash = recordHash(record);
        c.splice(at('enforcer', 100), 0, fake);
      }),
      [{ kind: 'inserted', chain: 'enforcer/enforcer-1', seq: 99 }],
    );
    assert.deepEqual(
      await tampered((c) => {
        const [a, b] = [at('ca', 2000), at('ca', 2001)];
        [c[a], c[b]] = [c[b] as ExportLine, c[a] as ExportLine];
      }),
      [{ kind: 'reordered', chain: 'ca/ca-1', seq: 2000 }],
    );
    assert.deepEqual(
      await tampered((c) => {
        // The ca's record, filed under the policy service's subject.
        const forged = structuredClone(c[at('ca', 5)]) as ExportLine;
        forged.subject = subjectOf(audit, { principal: 'policy', instance: 'policy-1' });
        c.push(forged);
      }),
      [{ kind: 'forged', chain: 'policy/policy-1', seq: 5 }],
    );
    assert.deepEqual(
      await tampered((c) => {
        const cp = c.find((l) => l.type === 'checkpoint' && l.subject.includes('.enforcer.'));
        (cp?.event as { data: { seq: number } }).data.seq = 3;
      }),
      [{ kind: 'forged-checkpoint', chain: 'enforcer/enforcer-1', seq: 3 }],
    );
    assert.deepEqual(
      await tampered((c) => {
        const cut = c.filter(
          (l) =>
            !(
              l.type === 'record' &&
              l.subject.includes('.ca.') &&
              (l.event as ChainedRecord).data.chain.seq > 3300
            ),
        );
        c.splice(0, c.length, ...cut);
      }),
      [{ kind: 'truncated', chain: 'ca/ca-1', seq: [3301, 3334] }],
    );
  });

  it('refuses a record under another principal’s prefix and any delete or purge of the stream', async () => {
    await provisionAudit(nats.get());
    const ca = await writerBus(nats.get(), 'ca', 'ca-1')();
    await ca.audit(entry(1));
    const js = jetstream(await nats.get().connect('ca'));
    const foreign = newEnvelope(audit.schema, 'ca-1', {
      ...entry(2),
      chain: { principal: 'policy', instance: 'p', seq: 1, prev: 'A'.repeat(43), hash: 'A'.repeat(43) },
    });
    for (const subject of [
      subjectOf(audit, { principal: 'policy', instance: 'p' }),
      subjectOf(auditCheckpoint, { principal: 'enforcer', instance: 'e' }),
    ])
      await assert.rejects(
        js.publish(subject, JSON.stringify(foreign), { timeout: 2000 }),
        /permissions violation/i,
        subject,
      );
    // Nor may a writer read another chain's head.
    const policyHead = await jetstreamManager(await nats.get().connect('ca'))
      .then((jsm) =>
        jsm.direct.getMessage(StreamName.audit, {
          last_by_subj: subjectOf(audit, { principal: 'policy', instance: 'p' }),
        }),
      )
      .then(
        () => 'read',
        () => 'refused',
      );
    assert.equal(policyHead, 'refused');

    // Not even the operator deletes or purges the audit log.
    const admin = await jetstreamManager(await nats.get().connect('admin'));
    await assert.rejects(
      admin.streams.deleteMessage(StreamName.audit, 1),
      /message delete not permitted|not permitted/i,
    );
    await assert.rejects(admin.streams.purge(StreamName.audit), /purge not permitted|not permitted/i);
    assert.equal((await admin.streams.info(StreamName.audit)).state.messages, 1);
    // And the stream's owner cannot switch that off: nats-server refuses to cancel it.
    const owner = await jetstreamManager(await nats.get().connect('enforcer'));
    const config = (await owner.streams.info(StreamName.audit)).config;
    await assert.rejects(
      owner.streams.update(StreamName.audit, { ...config, deny_delete: false, deny_purge: false }),
      /can not cancel deny message deletes/,
    );
  });

  it('says how many records follow the last checkpoint, and signs them all on a clean stop', async () => {
    await provisionAudit(nats.get());
    const ca = await writerBus(nats.get(), 'ca', 'ca-tail', 4)();
    for (let i = 0; i < 6; i++) await ca.audit(entry(i));
    const keys = keysFile(nats.get());
    const verify = () => cli(nats.get(), ['audit', 'verify', '--public-keys', keys]);
    const running = await verify();
    assert.equal(running.code, 0, running.out);
    assert.match(
      running.out,
      /ca\/ca-tail: unsigned tail of 2 records after checkpoint #4 \(#5-#6\): chained, but not signed/,
    );
    await ca.closeAudit();
    const stopped = await verify();
    assert.equal(stopped.code, 0, stopped.out);
    assert.doesNotMatch(stopped.out, /unsigned tail/);
  });

  it('exports each message as stored, byte for byte, and does not verify what JSON.parse may misread', async () => {
    await provisionAudit(nats.get());
    const ca = await writerBus(nats.get(), 'ca', 'ca-names', 500)();
    await ca.audit(entry(0));
    // V8 (Node.js 24.21) can parse a member named "\n" as "\\": the writer refuses such names.
    await assert.rejects(ca.audit({ ...entry(1), details: { '\n': 2 } }), /one character that JSON escapes/);
    await ca.audit(entry(2));
    await ca.closeAudit();
    const js = jetstream(await nats.get().connect('ca'));
    const link = (instance: string, i: number): string =>
      new ChainHead({ principal: 'ca', instance }).link(newEnvelope(audit.schema, instance, entry(i))).text;
    // Stored by hand under the ca's own name: one such name, and a record with spaces after its
    // colons (the same record, formatted otherwise).
    const misread = link('ca-forged', 3).replace('"details":{"i":3,', '"details":{"\\n":3,');
    const spaced = link('ca-spaced', 4).replaceAll('":', '": ');
    await js.publish(subjectOf(audit, { principal: 'ca', instance: 'ca-forged' }), misread, { msgID: 'f-1' });
    await js.publish(subjectOf(audit, { principal: 'ca', instance: 'ca-spaced' }), spaced, { msgID: 's-1' });
    const exported = await cli(nats.get(), ['audit', 'export', '--principal', 'ca']);
    assert.equal(exported.code, 0, exported.err);
    const lines = exported.out.trimEnd().split('\n');
    assert.ok(lines.at(-2)?.endsWith(`,"event":${misread}}`), lines.at(-2));
    assert.ok(lines.at(-1)?.endsWith(`,"event":${spaced}}`), lines.at(-1));
    const run = await cli(nats.get(), [
      'audit',
      'verify',
      '--public-keys',
      keysFile(nats.get()),
      '-o',
      'json',
    ]);
    assert.equal(run.code, 1);
    const problems = (JSON.parse(run.out) as Report).problems;
    assert.deepEqual(
      problems.map((p) => [p.kind, p.position]),
      [['malformed', lines.length - 1]],
    );
    assert.match(problems[0]?.message ?? '', /one escaped character/);
  });

  it('applies the operator’s retention to the audit log and keeps it append-only', async () => {
    const week = 7 * 86_400_000;
    await provision(await nats.get().connect('enforcer'), {
      streams: [StreamName.audit],
      retention: { [StreamName.audit]: { maxAgeMs: week, maxBytes: 1024 ** 3 } },
    });
    const config = (
      await jetstreamManager(await nats.get().connect('admin')).then((j) => j.streams.info(StreamName.audit))
    ).config;
    assert.deepEqual(
      [config.max_age, config.max_bytes, config.deny_delete, config.deny_purge, config.allow_direct],
      [week * 1_000_000, 1024 ** 3, true, true, true],
    );
  });

  it('names records and checkpoints a writer forges into the stream itself', async () => {
    await provisionAudit(nats.get());
    const ca = await writerBus(nats.get(), 'ca', 'ca-1', 4)();
    for (let i = 0; i < 10; i++) await ca.audit(entry(i));
    await ca.closeAudit();
    const js = jetstream(await nats.get().connect('ca'));
    const subject = subjectOf(audit, { principal: 'ca', instance: 'ca-1' });
    // A second record #3 written with the ca's own credentials, as if to rewrite history.
    const fake = new Bus(await nats.get().connect('ca'), { source: 'ca-1' });
    const head = await jetstreamManager(await nats.get().connect('admin')).then((jsm) =>
      jsm.streams.getMessage(StreamName.audit, { last_by_subj: subject }),
    );
    const last = head?.json<ChainedRecord>();
    assert.ok(last);
    const inserted = structuredClone(last) as ChainedRecord & {
      data: { chain: { seq: number; hash: string }; action: string };
    };
    inserted.data.chain.seq = 3;
    inserted.data.action = 'ca.token.revoke';
    inserted.data.chain.hash = recordHash(inserted);
    await js.publish(subject, JSON.stringify(inserted), { msgID: 'forged-3' });
    // A checkpoint in the ca's prefix, signed with the policy service's key.
    const policySeed = nats.get().credentials.get('policy')?.seed ?? '';
    const forgedCp = checkpointSigner(policySeed).sign({
      principal: 'ca',
      instance: 'ca-1',
      seq: 10,
      hash: last.data.chain.hash,
      at: new Date().toISOString(),
      reason: 'stop',
    });
    await fake.publish(auditCheckpoint, forgedCp, {
      qualifiers: { principal: 'ca', instance: 'ca-1' },
      id: 'forged-cp',
    });
    const run = await cli(nats.get(), [
      'audit',
      'verify',
      '--public-keys',
      keysFile(nats.get()),
      '-o',
      'json',
    ]);
    assert.equal(run.code, 1);
    assert.deepEqual(brief((JSON.parse(run.out) as Report).problems), [
      { kind: 'forged-checkpoint', chain: 'ca/ca-1', seq: 10 },
      { kind: 'inserted', chain: 'ca/ca-1', seq: 3 },
    ]);
  });

  it('refuses a record it cannot chain or that fails its schema, and stores nothing', async () => {
    const ca = await writerBus(nats.get(), 'ca', 'ca-1')();
    // No audit stream yet: the head of the chain cannot be read, so nothing is written.
    await assert.rejects(
      ca.audit(entry(1)),
      (err: unknown) => (err as { code?: string }).code === 'no_stream',
    );
    await provisionAudit(nats.get());
    await assert.rejects(
      ca.audit({ ...entry(2), kind: 'Not A Word' }),
      (err: unknown) => (err as { code?: string }).code === 'invalid_payload',
    );
    const admin = await jetstreamManager(await nats.get().connect('admin'));
    assert.equal((await admin.streams.info(StreamName.audit)).state.messages, 0);
    // Once there is somewhere to write, the chain starts at #1.
    const ack = await ca.audit(entry(3));
    const stored = await admin.streams.getMessage(StreamName.audit, { seq: ack.seq });
    assert.equal(stored?.json<ChainedRecord>().data.chain.seq, 1);
  });

  it('continues a chain after a crash, stores a retried publish once, and refuses a second writer’s fork', async () => {
    await provisionAudit(nats.get());
    const make = writerBus(nats.get(), 'policy', 'policy-1', 1000);
    const crashed = await make();
    for (let i = 0; i < 5; i++) await crashed.audit(entry(i));
    // No clean stop: the connection just goes, like a process killed with -9.
    const restarted = await make();
    const ack = await restarted.audit(entry(5));
    assert.equal(ack.duplicate, false);
    await restarted.audit(entry(6));

    // The crashed process's connection was still open: its next record would fork the chain.
    await assert.rejects(crashed.audit(entry(7)), /already written by another process/);
    // Having re-read the head, it continues the chain instead.
    await crashed.audit(entry(8));

    // The same record published again (a retry after a lost ack) is stored once.
    const admin = await jetstreamManager(await nats.get().connect('admin'));
    const subject = subjectOf(audit, { principal: 'policy', instance: 'policy-1' });
    const stored = (
      await admin.streams.getMessage(StreamName.audit, { last_by_subj: subject })
    )?.json<ChainedRecord>();
    assert.equal(stored?.data.chain.seq, 8);
    const retry = await restarted.publishEncoded(audit, JSON.stringify(stored), {
      qualifiers: { principal: 'policy', instance: 'policy-1' },
      msgId: `policy.policy-1.8`,
    });
    assert.equal(retry.duplicate, true);
    await Promise.all([crashed.closeAudit(), restarted.closeAudit()]);

    const run = await cli(nats.get(), [
      'audit',
      'verify',
      '--public-keys',
      keysFile(nats.get()),
      '-o',
      'json',
    ]);
    const report = JSON.parse(run.out) as Report & {
      chains: { chain: string; lastSeq: number; checkpointedSeq: number }[];
    };
    assert.deepEqual([run.code, report.problems], [0, []]);
    assert.deepEqual(
      report.chains.map((c) => [c.chain, c.lastSeq, c.checkpointedSeq]),
      [['policy/policy-1', 8, 8]],
    );
  });

  it('answers queries and follows the log live, for people through their read-only copy', async () => {
    await provisionAudit(nats.get());
    const ca = await writerBus(nats.get(), 'ca', 'ca-1')();
    const policy = await writerBus(nats.get(), 'policy', 'policy-1')();
    for (let i = 0; i < 20; i++) await (i % 2 ? ca : policy).audit(entry(i));
    const query = async (args: string[]) => {
      const run = await cli(nats.get(), ['audit', 'query', '--since', '1h', '-o', 'json', ...args], 'user');
      assert.equal(run.code, 0, run.err);
      return JSON.parse(run.out) as { principal: string; action: string; seq: number }[];
    };
    // The copy is fed asynchronously: wait until it holds all twenty.
    const deadline = Date.now() + 30_000;
    while ((await query([])).length < 20) {
      assert.ok(Date.now() < deadline, 'the people copy never caught up');
      await new Promise((r) => setTimeout(r, 200));
    }
    const byCa = await query(['--principal', 'ca', '--action', 'ca.*']);
    assert.equal(byCa.length, 10);
    assert.ok(byCa.every((r) => r.principal === 'ca' && r.action === 'ca.token.create'));
    assert.deepEqual(
      (await query(['--principal', 'policy', '--workload', 'shop/w0'])).map((r) => r.seq),
      [1, 6],
    );
    assert.deepEqual(await query(['--since', new Date(Date.now() + 60_000).toISOString()]), []);

    const table = await cli(
      nats.get(),
      ['audit', 'query', '--since', '1h', '--principal', 'ca', '-o', 'table'],
      'user',
    );
    assert.match(table.out, /^TIME\s+WRITER\s+SEQ\s+ACTION\s+OUTCOME\s+TARGET\n/);
    assert.equal(table.out.trimEnd().split('\n').length, 11);

    const bad = await cli(nats.get(), ['audit', 'query', '--since', 'yesterday'], 'user');
    assert.deepEqual([bad.code, bad.out], [2, '']);
    assert.match(bad.err, /--since must be an ISO 8601 time or a duration/);

    let out = '';
    const tail = runCli(['audit', 'tail', '-n', '2', '--principal', 'ca', '-o', 'json'], {
      io: { out: (t) => (out += t), err: () => undefined },
      env: cliEnv(nats.get(), 'user'),
    });
    // Records written after the tail started reach it through the copy.
    const writing = (async () => {
      while (out.split('\n').filter(Boolean).length < 2) {
        await ca.audit(entry(100));
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    assert.equal(await tail, 0);
    await writing;
    const followed = out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { principal: string; seq: number });
    assert.equal(followed.length, 2);
    assert.ok(followed.every((r) => r.principal === 'ca' && r.seq > 10));
  });
});
