import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { alert, DataOf, topologyRegister } from '@warden/events';

/** A valid `warden.topology.v1.register` payload: shop/cart on 10.0.0.7:8080, with `overrides`. */
export const testRegistration = (
  overrides: Partial<DataOf<typeof topologyRegister>> = {},
): DataOf<typeof topologyRegister> => ({
  namespace: 'shop',
  workload: 'cart',
  address: '10.0.0.7',
  port: 8080,
  protocol: 'http',
  serviceAccount: 'cart',
  labels: { app: 'cart' },
  ...overrides,
});

/** A valid `warden.alert.v1` payload: a warning firing for shop/cart, with `overrides`. */
export const testAlert = (overrides: Partial<DataOf<typeof alert>> = {}): DataOf<typeof alert> => ({
  alertId: 'a1',
  status: 'firing',
  severity: 'warning',
  rule: 'r',
  target: { namespace: 'shop', workload: 'cart' },
  summary: 's',
  labels: {},
  startsAt: new Date().toISOString(),
  ...overrides,
});

/**
 * What a raw client, bypassing the typed bus, can store on `subject`: text that is not JSON, then
 * an envelope whose data breaks the subject's schema (a consumer counts one `not_json`, one `schema`).
 */
export async function publishMalformed(nc: NatsConnection, subject: string): Promise<void> {
  const raw = jetstream(nc);
  await raw.publish(subject, 'not json {');
  await raw.publish(
    subject,
    JSON.stringify({
      id: 'malformed-1',
      time: new Date().toISOString(),
      source: 'x',
      schema: subject,
      data: { port: 'eighty' },
    }),
  );
}
