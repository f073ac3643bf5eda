import { createReadStream, createWriteStream, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { createUser } from '@nats-io/nkeys';
import { ChainHead, checkpointSigner } from '@warden/audit';
import type { CheckpointSigner } from '@warden/audit';
import { runCli } from '@warden/cli';
import type { ExportLine } from '@warden/cli';
import { audit, auditCheckpoint, subjectOf } from '@warden/events';
import { captureOutput, tempDir } from '@warden/testing';
import type { Benchmark } from './benchmark.ts';
import { round, target } from './benchmark.ts';

/**
 * `warden audit verify FILE` on an export of `records` audit records from three writers, with a
 * signed checkpoint every `every` records of each chain. The file is written by the same chain
 * code the services use (`ChainHead`, `checkpointSigner`) in `warden audit export`'s format;
 * publishing a million records through NATS first would only make the benchmark slower to set up.
 *
 * The baseline reads and parses the same file line by line (what any consumer of the export
 * must do), so the ratio is the share of the reading rate left after verification.
 */

const seedOf = (): string => new TextDecoder().decode(createUser().getSeed());

export async function writeExport(
  file: string,
  records: number,
  every: number,
): Promise<{ keys: string; bytes: number }> {
  const writers = ['ca', 'policy', 'enforcer'].map((principal) => ({
    principal,
    head: new ChainHead({ principal, instance: `${principal}-local` }),
    signer: checkpointSigner(seedOf()) as CheckpointSigner,
  }));
  const out = createWriteStream(file);
  let bytes = 0;
  let streamSeq = 0;
  const write = async (line: ExportLine): Promise<void> => {
    const text = `${JSON.stringify(line)}\n`;
    bytes += text.length;
    if (!out.write(text)) await once(out, 'drain');
  };
  const t0 = Date.UTC(2026, 11, 1);
  for (let i = 0; i < records; i++) {
    const w = writers[i % writers.length] as (typeof writers)[number];
    const time = new Date(t0 + i * 10).toISOString();
    const event = w.head.link({
      id: `0b7c5e0e-3f7a-4c7e-9d1c-${String(i).padStart(12, '0')}`,
      time,
      source: w.head.writer.instance,
      schema: audit.schema,
      data: {
        kind: 'identity',
        actor: 'agent-host-a',
        action: 'ca.token.create',
        target: `spiffe://warden.local/ns/shop/sa/checkout-${i % 50}`,
        outcome: 'success',
        details: { expiresAt: '2026-12-04T07:00:00.000Z', callerAccount: 'PEOPLE' },
      },
    });
    await write({
      type: 'record',
      subject: subjectOf(audit, w.head.writer),
      streamSeq: ++streamSeq,
      storedAt: time,
      event: JSON.parse(event.text) as unknown,
    });
    if (w.head.seq % every === 0 || i >= records - writers.length) {
      const data = w.signer.sign({
        ...w.head.writer,
        seq: w.head.seq,
        hash: w.head.hash,
        at: time,
        reason: 'count',
      });
      await write({
        type: 'checkpoint',
        subject: subjectOf(auditCheckpoint, w.head.writer),
        streamSeq: ++streamSeq,
        storedAt: time,
        event: {
          id: `cp-${streamSeq}`,
          time,
          source: w.head.writer.instance,
          schema: auditCheckpoint.schema,
          data,
        },
      });
    }
  }
  out.end();
  await once(out, 'finish');
  const keys = join(file, '..', 'keys.json');
  writeFileSync(
    keys,
    JSON.stringify(Object.fromEntries(writers.map((w) => [w.principal, w.signer.publicKey]))),
  );
  return { keys, bytes };
}

export const auditVerify: Benchmark = {
  name: 'audit-verify',
  description: 'warden audit verify records/s on an exported file (baseline: reading and parsing it)',
  defaults: { records: 1_000_000, every: 1000 },
  run: async (params, progress) => {
    const { records = 0, every = 1000 } = params;
    const dir = tempDir('bench-audit');
    try {
      const file = join(dir, 'audit.jsonl');
      progress(`writing ${records} chained records to ${file}`);
      const { keys, bytes } = await writeExport(file, records, every);

      progress('baseline: reading and parsing the file');
      const r0 = process.hrtime.bigint();
      let parsed = 0;
      for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
        if ((JSON.parse(line) as ExportLine).type === 'record') parsed++;
      }
      const readSeconds = Number(process.hrtime.bigint() - r0) / 1e9;

      progress('warden audit verify');
      const v0 = process.hrtime.bigint();
      const run = await captureOutput((io) =>
        runCli(['audit', 'verify', file, '--public-keys', keys, '-o', 'json'], { io, env: {} }),
      );
      const verifySeconds = Number(process.hrtime.bigint() - v0) / 1e9;
      const report = JSON.parse(run.out) as { ok: boolean; records: number; checkpoints: number };
      if (run.code !== 0 || !report.ok || report.records !== records || parsed !== records)
        throw new Error(`verify exited ${run.code} on ${report.records} records: ${run.out.slice(0, 2000)}`);

      const verifyRate = Math.round(records / verifySeconds);
      const readRate = Math.round(records / readSeconds);
      return {
        results: {
          records,
          checkpoints: report.checkpoints,
          fileMiB: round(bytes / 1024 ** 2, 1),
          seconds: round(verifySeconds, 2),
          recordsPerSec: verifyRate,
        },
        baseline: { records, seconds: round(readSeconds, 2), recordsPerSec: readRate },
        ratio: round(verifyRate / readRate, 3),
        target: target(
          'warden audit verify checks at least 200,000 records/s',
          'recordsPerSec',
          verifyRate,
          '>=',
          200_000,
        ),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
