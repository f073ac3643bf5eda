import { Counter, Histogram, Registry } from 'prom-client';

/** The bus's own metrics, registered in the service's registry. */
export type BusMetrics = {
  published: Counter<'schema'>;
  received: Counter<'schema' | 'outcome'>;
  invalid: Counter<'schema' | 'direction' | 'reason'>;
  requestSeconds: Histogram<'subject' | 'outcome'>;
  streamWaits: Counter<'stream'>;
  consumerFailures: Counter<'stream' | 'reason'>;
  auditRecords: Counter<'outcome'>;
  auditCheckpoints: Counter<'reason'>;
};

export function createBusMetrics(registry: Registry = new Registry()): BusMetrics {
  return {
    published: new Counter({
      name: 'warden_bus_published_total',
      help: 'Events published, by schema.',
      labelNames: ['schema'],
      registers: [registry],
    }),
    received: new Counter({
      name: 'warden_bus_received_total',
      help: 'Events received, by schema and outcome (ack, retry, invalid, failed).',
      labelNames: ['schema', 'outcome'],
      registers: [registry],
    }),
    invalid: new Counter({
      name: 'warden_bus_invalid_messages_total',
      help: 'Messages that failed their schema: rejected on publish (out) or terminated on receipt (in).',
      labelNames: ['schema', 'direction', 'reason'],
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'warden_bus_request_seconds',
      help: 'Request/reply round trips made by this service.',
      labelNames: ['subject', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    streamWaits: new Counter({
      name: 'warden_bus_stream_waits_total',
      help: 'Attempts to attach a consumer to a stream that did not exist yet (another service provisions it).',
      labelNames: ['stream'],
      registers: [registry],
    }),
    consumerFailures: new Counter({
      name: 'warden_bus_consumer_failures_total',
      help: 'Durable consumers that could not attach (permission, attach) or went away (gone), by stream.',
      labelNames: ['stream', 'reason'],
      registers: [registry],
    }),
    auditRecords: new Counter({
      name: 'warden_audit_records_total',
      help: 'Audit records this instance appended to its chain, by outcome (stored, failed, conflict).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    auditCheckpoints: new Counter({
      name: 'warden_audit_checkpoints_total',
      help: 'Signed audit checkpoints written, by reason (count, interval, stop), or failed.',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
