import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { identityIssued, identityRevoked, matchesEvent, StreamName } from '@warden/events';
import type { Logger } from '@warden/runtime';
import type { IssuedIndex } from './issued-index.ts';

const decoder = new TextDecoder();

/**
 * Rebuilds the issued index from WARDEN_IDENTITY: every `identity.issued` and `identity.revoked`
 * event from the start of the stream, in order, through an ordered (ephemeral) consumer, then sets
 * the completeness marker. Applying an event is idempotent and a revocation is never undone, so a
 * rebuild racing with live issuance leaves the index right. Each message is validated against its
 * schema like any other input; an invalid one is logged and skipped.
 */
export async function rebuildIndex(nc: NatsConnection, index: IssuedIndex, log: Logger): Promise<number> {
  const started = Date.now();
  const js = jetstream(nc);
  const consumer = await js.consumers.get(StreamName.identity, {
    filter_subjects: [identityIssued.schema, identityRevoked.schema],
    deliver_policy: DeliverPolicy.All,
  });
  const info = await consumer.info();
  let applied = 0;
  let lastSeq = 0;
  if (info.num_pending > 0) {
    const messages = await consumer.consume();
    for await (const msg of messages) {
      lastSeq = msg.seq;
      let value: unknown;
      try {
        value = JSON.parse(decoder.decode(msg.data));
      } catch {
        value = null;
      }
      if (matchesEvent(identityIssued, msg.subject)) {
        const parsed = identityIssued.validateEnvelope(value);
        if (parsed.ok) await index.recordIssued(parsed.value.data);
        else log.warn({ seq: msg.seq, issues: parsed.issues }, 'skipping an invalid issued event');
      } else {
        const parsed = identityRevoked.validateEnvelope(value);
        if (parsed.ok)
          await index.markRevoked(parsed.value.data.serials, parsed.value.data.reason, parsed.value.time);
        else log.warn({ seq: msg.seq, issues: parsed.issues }, 'skipping an invalid revoked event');
      }
      applied++;
      if (msg.info.pending === 0) break;
    }
    await messages.close();
  }
  await consumer.delete().catch(() => undefined);
  await index.markComplete(lastSeq);
  log.info(
    { events: applied, lastSeq, ms: Date.now() - started },
    'issued index rebuilt from the identity stream',
  );
  return applied;
}
