import { randomBytes } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { Bus, caBundle, newEnvelope, Principal } from '@warden/events';
import type { ReplyOf } from '@warden/events';
import { startTestNats } from '@warden/testing';
import type { Benchmark } from './benchmark.ts';
import { microsSince, percentile, round, sidesFor, split, target } from './benchmark.ts';

/**
 * Request/reply latency through `Bus.request` / `Bus.serve` against `nc.request` / `nc.subscribe`
 * with the same JSON on the wire.
 *
 * Both sides use the same two connections with real per-service credentials: the requester is
 * an agent (agents fetch the trust bundle at boot and on rotation) and the responder is the CA,
 * which serves `warden.ca.v1.bundle`. Replies go to the agent's own inbox prefix, as in
 * production, so the raw side pays exactly the same server-side permission checks.
 *
 * The CA may subscribe to the bundle subject only, so the two responders cannot both listen at
 * once: each round subscribes one, measures, unsubscribes, then does the same for the other. One
 * request is in flight at a time, so each sample is one full round trip.
 *
 * A third side sends the same typed request as `user`, from the PEOPLE account: it crosses the
 * service import and its reply comes back through `_R_.`, so its p50 minus the bus side's is
 * what the account boundary costs.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Bundle = ReplyOf<typeof caBundle>;

/** Shaped like PEM roots of ~1.1 KB; the schema checks strings, so only their size matters here. */
const fakeRootPem = (): string => {
  const body = randomBytes(800).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
};

/** A bundle mid-rotation: the current root and the next one. */
const bundle: Bundle = { trustDomain: 'warden.local', sequence: 7, rootsPem: [fakeRootPem(), fakeRootPem()] };

/** The reply as it travels, written by hand on the raw side: what `Bus.serve` sends. */
type RawReply = { id: string; time: string; source: string; schema: string; ok: boolean; data?: Bundle };

type Side = {
  serve(): Subscription;
  call(): Promise<void>;
};

function busSide(requester: NatsConnection, responder: NatsConnection): Side {
  const client = new Bus(requester, { source: 'bench-agent' });
  const server = new Bus(responder, { source: 'bench-ca' });
  return {
    serve: () => server.serve(caBundle, () => bundle, { queue: 'ca' }),
    call: async () => {
      const reply = await client.request(caBundle, {});
      if (reply.sequence !== bundle.sequence) throw new Error('bus: wrong reply');
    },
  };
}

/** Does what a hand-written service would: envelope and JSON in, JSON out, no validation. */
function rawSide(requester: NatsConnection, responder: NatsConnection): Side {
  const subject = caBundle.subject;
  return {
    serve: () =>
      responder.subscribe(subject, {
        queue: 'ca',
        callback: (err, msg) => {
          if (err) return;
          const request = JSON.parse(decoder.decode(msg.data)) as { id: string };
          const reply: RawReply = {
            id: request.id,
            time: new Date().toISOString(),
            source: 'bench-ca',
            schema: `${subject}.reply`,
            ok: true,
            data: bundle,
          };
          msg.respond(encoder.encode(JSON.stringify(reply)));
        },
      }),
    call: async () => {
      const payload = encoder.encode(JSON.stringify(newEnvelope(subject, 'bench-agent', {})));
      const msg = await requester.request(subject, payload, { timeout: 5000 });
      const reply = JSON.parse(decoder.decode(msg.data)) as RawReply;
      if (!reply.ok || reply.data?.sequence !== bundle.sequence) throw new Error('raw: wrong reply');
    },
  };
}

type Latency = { count: number; p50Micros: number; p90Micros: number; p99Micros: number; meanMicros: number };

function summary(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, x) => sum + x, 0) / sorted.length;
  return {
    count: sorted.length,
    p50Micros: round(percentile(sorted, 50)),
    p90Micros: round(percentile(sorted, 90)),
    p99Micros: round(percentile(sorted, 99)),
    meanMicros: round(mean),
  };
}

export const busRequestReply: Benchmark = {
  name: 'bus-request-reply',
  description:
    'request/reply round-trip latency (µs) of Bus.request/serve vs nc.request/subscribe, and across the PEOPLE account boundary',
  defaults: { iterations: 10_000, warmup: 1_000, rounds: 10 },
  run: async (params, progress) => {
    const { iterations = 0, warmup = 0, rounds = 1 } = params;
    const nats = await startTestNats();
    try {
      const requester = await nats.connect(Principal.agent);
      const responder = await nats.connect(Principal.ca);
      const bus = busSide(requester, responder);
      const raw = rawSide(requester, responder);
      // A person's tool asking for the same bundle from the PEOPLE account, through the import.
      const crossAccount = busSide(await nats.connect(Principal.user), responder);

      const measure = async (side: Side, count: number, samples: number[]): Promise<void> => {
        const sub = side.serve();
        // The flush returns once the server has the subscription, so no request finds no responder.
        await responder.flush();
        try {
          for (let i = 0; i < count; i++) {
            const started = process.hrtime.bigint();
            await side.call();
            samples.push(microsSince(started));
          }
        } finally {
          sub.unsubscribe();
          await responder.flush();
        }
      };

      progress(`warm-up: ${warmup} round trips per side`);
      await measure(bus, warmup, []);
      await measure(raw, warmup, []);
      await measure(crossAccount, warmup, []);

      const busSamples: number[] = [];
      const rawSamples: number[] = [];
      const crossSamples: number[] = [];
      for (const [index, count] of split(iterations, rounds).entries()) {
        const [first, second] = sidesFor(
          index,
          { side: bus, samples: busSamples },
          { side: raw, samples: rawSamples },
        );
        await measure(first.side, count, first.samples);
        await measure(second.side, count, second.samples);
        await measure(crossAccount, count, crossSamples);
        progress(`round ${index + 1}/${rounds}: ${count} round trips per side`);
      }

      const results = summary(busSamples);
      const baseline = summary(rawSamples);
      const added = round(results.p50Micros - baseline.p50Micros);
      const cross = summary(crossSamples);
      return {
        results: {
          ...results,
          addedP50Micros: added,
          // The same typed request from another account: what the account boundary costs.
          crossAccountP50Micros: cross.p50Micros,
          crossAccountP99Micros: cross.p99Micros,
          crossAccountAddedP50Micros: round(cross.p50Micros - results.p50Micros),
        },
        baseline,
        ratio: round(results.p50Micros / baseline.p50Micros, 3),
        target: target(
          'the typed bus adds under 50 µs to request/reply p50',
          'addedP50Micros',
          added,
          '<',
          50,
        ),
      };
    } finally {
      await nats.stop();
    }
  },
};
