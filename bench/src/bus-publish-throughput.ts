import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  Bus,
  newEnvelope,
  Principal,
  provision,
  StreamName,
  subjectOf,
  telemetryAccess,
} from '@warden/events';
import type { DataOf } from '@warden/events';
import { startTestNats } from '@warden/testing';
import type { Benchmark } from './benchmark.ts';
import { pump, round, sidesFor, split, target } from './benchmark.ts';

/**
 * JetStream publish-with-ack throughput through `Bus.publish` (validation on) against
 * `jetstream(nc).publish` of the same envelope, built and encoded per message as a hand-written
 * publisher would (a fresh id is needed anyway: it is the de-duplication msgID on both sides).
 *
 * Both sides share one connection with the telemetry-ingest service's own credentials (the real
 * publisher of this event), the same stream, the same publish options and the same window: a
 * fixed number of publishes in flight, each refilled as soon as its ack arrives.
 */

const encoder = new TextEncoder();
const qualifiers = { namespace: 'shop', workload: 'checkout' };
const subject = subjectOf(telemetryAccess, qualifiers);
const publishOptions = { timeout: 5000, retries: 3 } as const;

/** One agent flush: `size` access records of a checkout workload calling its neighbours. */
export const accessBatch = (size: number): DataOf<typeof telemetryAccess> => ({
  records: Array.from({ length: size }, (_, i) => ({
    time: new Date(Date.UTC(2025, 10, 26, 5, 0, 0, i * 37)).toISOString(),
    source: {
      namespace: 'shop',
      workload: 'checkout',
      principal: 'spiffe://warden.local/ns/shop/sa/checkout',
      address: '10.42.0.17',
      port: 8080,
    },
    destination: {
      namespace: 'shop',
      workload: i % 3 === 0 ? 'payments' : 'cart',
      principal: `spiffe://warden.local/ns/shop/sa/${i % 3 === 0 ? 'payments' : 'cart'}`,
      address: `10.42.1.${20 + i}`,
      port: 8443,
    },
    protocol: i % 3 === 0 ? ('grpc' as const) : ('http' as const),
    method: i % 3 === 0 ? 'POST' : 'GET',
    path: i % 3 === 0 ? '/payments.v1.Payments/Authorize' : `/api/v2/cart/items/${1000 + i}`,
    status: i === 7 ? 503 : 200,
    durationMs: 3.25 + i,
    bytesSent: 512 + 16 * i,
    bytesReceived: 2048 + 64 * i,
    decision: 'allow' as const,
  })),
});

type Throughput = { messages: number; seconds: number; msgsPerSec: number; roundsMsgsPerSec: number[] };

export const busPublishThroughput: Benchmark = {
  name: 'bus-publish-throughput',
  description: 'JetStream publish-with-ack throughput (msgs/s) of Bus.publish vs jetstream(nc).publish',
  // Ten records is a typical agent flush; validation cost grows with it, so it is a parameter.
  defaults: { messages: 30_000, warmup: 2_000, rounds: 6, window: 256, records: 10 },
  run: async (params, progress) => {
    const { messages = 0, warmup = 0, rounds = 1, window = 1, records = 10 } = params;
    const batch = accessBatch(records);
    const nats = await startTestNats();
    try {
      const nc = await nats.connect(Principal.telemetryIngest);
      await provision(nc, { streams: [StreamName.telemetry] });
      const bus = new Bus(nc, { source: 'bench-telemetry-ingest' });
      const js = jetstream(nc);

      const viaBus = (): Promise<unknown> => bus.publish(telemetryAccess, batch, { qualifiers });
      const viaRaw = (): Promise<unknown> => {
        const envelope = newEnvelope(telemetryAccess.schema, 'bench-telemetry-ingest', batch);
        return js.publish(subject, encoder.encode(JSON.stringify(envelope)), {
          msgID: envelope.id,
          ...publishOptions,
        });
      };

      progress(`warm-up: ${warmup} publishes per side`);
      await pump(warmup, window, viaBus);
      await pump(warmup, window, viaRaw);

      const busRun: Throughput = { messages: 0, seconds: 0, msgsPerSec: 0, roundsMsgsPerSec: [] };
      const rawRun: Throughput = { messages: 0, seconds: 0, msgsPerSec: 0, roundsMsgsPerSec: [] };
      const busSide = [viaBus, busRun] as const;
      const rawSide = [viaRaw, rawRun] as const;
      for (const [index, count] of split(messages, rounds).entries()) {
        for (const [publishOne, run] of sidesFor(index, busSide, rawSide)) {
          const seconds = await pump(count, window, publishOne);
          run.messages += count;
          run.seconds += seconds;
          run.roundsMsgsPerSec.push(Math.round(count / seconds));
        }
        progress(`round ${index + 1}/${rounds}: ${count} publishes per side`);
      }
      for (const run of [busRun, rawRun]) {
        run.msgsPerSec = Math.round(run.messages / run.seconds);
        run.seconds = round(run.seconds, 3);
      }

      // Every publish must have been stored once: a duplicate or a lost ack would flatter a side.
      const info = await (await jetstreamManager(nc)).streams.info(StreamName.telemetry);
      const expected = 2 * (warmup + messages);
      if (info.state.messages !== expected)
        throw new Error(`stream holds ${info.state.messages} messages, expected ${expected}`);

      const ratio = round(busRun.msgsPerSec / rawRun.msgsPerSec, 3);
      return {
        results: busRun,
        baseline: rawRun,
        ratio,
        target: target(
          'the typed bus keeps at least 80% of raw publish throughput',
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
