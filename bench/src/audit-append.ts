import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { checkpointSigner } from '@warden/audit';
import { Bus, newEnvelope, Principal, provision, StreamName, subjectOf, audit } from '@warden/events';
import type { AuditEntryInput } from '@warden/events';
import { startTestNats } from '@warden/testing';
import type { Benchmark } from './benchmark.ts';
import { cpuSecondsOf, pump, round, sidesFor, split, target } from './benchmark.ts';

/**
 * Audit append throughput: `Bus.audit` (validation, RFC 8785 canonical JSON, SHA-256 link to the
 * previous record, a JetStream publish whose message id is the chain position, and a signed
 * checkpoint every `every` records) against `jetstream(nc).publish` of the same audit entry in a
 * plain envelope, unchained, on the same connection with the CA's own credentials, into the same
 * stream, with the same number of publishes in flight.
 */

const encoder = new TextEncoder();

/** A CA token creation, the size of a typical audit record. */
const entry = (i: number): AuditEntryInput => ({
  kind: 'identity',
  actor: 'agent-host-a',
  action: 'ca.token.create',
  target: `spiffe://warden.local/ns/shop/sa/checkout-${i % 50}`,
  outcome: 'success',
  details: { expiresAt: '2026-12-04T07:00:00.000Z', callerAccount: 'PEOPLE', i },
});

type Throughput = {
  records: number;
  seconds: number;
  recordsPerSec: number;
  roundsRecordsPerSec: number[];
  /** CPU per record of this process (the writer) and of nats-server, in microseconds. */
  clientCpuMicros: number;
  serverCpuMicros: number;
};

export const auditAppend: Benchmark = {
  name: 'audit-append',
  description:
    'audit records/s appended with chaining and signed checkpoints vs the same records published raw',
  // Rounds of 50,000 records per side after 20,000 of warm-up: rounds of a few thousand measured
  // the JIT's warm-up and the machine's noise more than the writer (single rounds 17k-42k/s).
  defaults: { records: 300_000, warmup: 20_000, rounds: 6, window: 256, every: 1000 },
  run: async (params, progress) => {
    const { records = 0, warmup = 0, rounds = 1, window = 1, every = 1000 } = params;
    const nats = await startTestNats();
    try {
      await provision(await nats.connect(Principal.enforcer), { streams: [StreamName.audit] });
      const nc = await nats.connect(Principal.ca);
      const seed = nats.credentials.get(Principal.ca)?.seed;
      if (!seed) throw new Error('no ca seed');
      const bus = new Bus(nc, {
        source: 'bench-ca',
        audit: { principal: Principal.ca, signer: checkpointSigner(seed), checkpointEvery: every },
      });
      const js = jetstream(nc);
      const rawSubject = subjectOf(audit, { principal: Principal.ca, instance: 'bench-ca-raw' });
      const chained = (i: number): Promise<unknown> => bus.audit(entry(i));
      const raw = (i: number): Promise<unknown> => {
        const envelope = newEnvelope(audit.schema, 'bench-ca-raw', entry(i));
        return js.publish(rawSubject, encoder.encode(JSON.stringify(envelope)), {
          msgID: envelope.id,
          timeout: 5000,
          retries: 3,
        });
      };

      progress(`warm-up: ${warmup} records per side`);
      await pump(warmup, window, chained);
      await pump(warmup, window, raw);
      const newRun = (): Throughput => ({
        records: 0,
        seconds: 0,
        recordsPerSec: 0,
        roundsRecordsPerSec: [],
        clientCpuMicros: 0,
        serverCpuMicros: 0,
      });
      const chainRun = newRun();
      const rawRun = newRun();
      const serverPid = nats.server.child.pid;
      const clientCpu = (): number => {
        const { user, system } = process.cpuUsage();
        return (user + system) / 1e6;
      };
      for (const [index, count] of split(records, rounds).entries()) {
        for (const [publishOne, run] of sidesFor(
          index,
          [chained, chainRun] as const,
          [raw, rawRun] as const,
        )) {
          const client = clientCpu();
          const server = cpuSecondsOf(serverPid);
          const seconds = await pump(count, window, publishOne);
          run.clientCpuMicros += clientCpu() - client;
          run.serverCpuMicros += cpuSecondsOf(serverPid) - server;
          run.records += count;
          run.seconds += seconds;
          run.roundsRecordsPerSec.push(Math.round(count / seconds));
        }
        progress(`round ${index + 1}/${rounds}: ${count} records per side`);
      }
      await bus.closeAudit();
      for (const run of [chainRun, rawRun]) {
        run.recordsPerSec = Math.round(run.records / run.seconds);
        run.seconds = round(run.seconds, 3);
        run.clientCpuMicros = round((run.clientCpuMicros * 1e6) / run.records, 2);
        run.serverCpuMicros = round((run.serverCpuMicros * 1e6) / run.records, 2);
      }
      // Every record stored once, and the chain's checkpoints beside them.
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(StreamName.audit, { subjects_filter: 'warden.audit.v1.>' });
      const counts = info.state.subjects ?? {};
      const chainedSubject = subjectOf(audit, { principal: Principal.ca, instance: 'bench-ca' });
      const expected = warmup + records;
      if (counts[chainedSubject] !== expected || counts[rawSubject] !== expected)
        throw new Error(
          `stored ${counts[chainedSubject]} chained and ${counts[rawSubject]} raw, expected ${expected} each`,
        );
      const checkpoints = counts['warden.audit.v1.checkpoint.ca.bench-ca'] ?? 0;

      const ratio = round(chainRun.recordsPerSec / rawRun.recordsPerSec, 3);
      return {
        results: { ...chainRun, checkpoints },
        baseline: rawRun,
        ratio,
        target: target(
          'chained, checkpointed appends keep at least 80% of the raw publish rate',
          'ratio',
          ratio,
          '>=',
          0.8,
        ),
      };
    } finally {
      await nats.stop();
    }
  },
};
