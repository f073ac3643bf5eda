import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  Bus,
  filterOf,
  grants,
  newEnvelope,
  outsidePrincipals,
  policyRejected,
  policyStatus,
  policySubmit,
} from '@warden/events';
import { httpOk, seedFile } from '@warden/infra';
import { ephemeralPorts, Stack } from '@warden/local-stack';
import { prng } from '@warden/policy-engine';
import { connectNats } from '@warden/runtime';
import { tempDir } from '@warden/testing';

/**
 * Hostile input at every subject a principal outside the services may publish to or request,
 * on a whole running stack: afterwards every service is ready, the policy service still answers,
 * revision numbers have no gaps, and a valid submission sent after the barrage is committed.
 */

const encoder = new TextEncoder();
const SEED = Number(process.env['WARDEN_FUZZ_SEED'] ?? 1);
const ROUNDS = Number(process.env['WARDEN_FUZZ_ROUNDS'] ?? 6);

/** Nesting deep enough to overflow a recursive walker many times over. */
const deep = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

type Hostile = { payload: Uint8Array; kind: string; /** No schema can accept it. */ invalid: boolean };

/** One message each of the kinds ARCHITECTURE §7 promises to survive, varied by `random`. */
function hostilePayloads(schema: string, random: () => number): Hostile[] {
  const valid = newEnvelope(schema, 'fuzz', {}) as unknown as Record<string, unknown>;
  const mutated = { ...valid };
  const fields = Object.keys(mutated);
  const field = fields[Math.floor(random() * fields.length)] ?? 'id';
  const replacements: unknown[] = [
    null,
    42,
    -1e308,
    'x'.repeat(1000),
    [],
    { nested: { a: 1 } },
    true,
    '\u0000',
  ];
  mutated[field] = replacements[Math.floor(random() * replacements.length)];
  const text = JSON.stringify(valid);
  const bytes = new Uint8Array(64 + Math.floor(random() * 512));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  bytes[0] = 0xff;
  const versioned = schema.replace('.v1.', `.v${2 + Math.floor(random() * 7)}.`);
  const json = (kind: string, value: unknown, invalid: boolean): Hostile => ({
    kind,
    payload: encoder.encode(JSON.stringify(value)),
    invalid,
  });
  return [
    { kind: 'not JSON', payload: encoder.encode('not json {'), invalid: true },
    {
      kind: 'truncated',
      payload: encoder.encode(text.slice(0, Math.floor(random() * text.length))),
      invalid: true,
    },
    json('empty object', {}, true),
    json('null', null, true),
    // A mutated field may still be acceptable (an optional one), so no verdict is expected.
    json(`${field} replaced`, mutated, false),
    json('unknown schema version', { ...valid, schema: versioned }, false),
    json('data off schema', { ...valid, data: { bogus: true, text: 1 } }, false),
    json('nested data', { ...valid, data: JSON.parse(deep(2000)) as unknown }, true),
    {
      kind: 'deep nesting',
      payload: encoder.encode(deep(100_000 + Math.floor(random() * 100_000))),
      invalid: true,
    },
    json('900 KB', { ...valid, data: { text: 'x'.repeat(900_000) } }, false),
    {
      kind: 'prototype keys',
      payload: encoder.encode(
        `{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"id":"p"}`,
      ),
      invalid: true,
    },
    { kind: 'random bytes', payload: bytes, invalid: true },
  ];
}

describe('hostile input at every reachable subject', () => {
  const dir = tempDir('hostile');
  after(() => rmSync(dir, { recursive: true, force: true }));
  const connections: NatsConnection[] = [];
  after(async () => {
    await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  });

  it('keeps every service ready, answering and gap-free through at least 1,000 hostile messages', async (t) => {
    const stack = new Stack({ dir, ports: await ephemeralPorts(), backoff: { initialMs: 100 } });
    try {
      await stack.start();
      const open = async (identity: 'user' | 'workload' | 'admin'): Promise<NatsConnection> => {
        const nc = await connectNats({
          url: stack.natsUrl,
          principal: identity,
          instance: `fuzz-${identity}`,
          seedFile: seedFile(stack.credsDir, identity),
        });
        connections.push(nc);
        return nc;
      };
      const user = new Bus(await open('user'), { source: 'fuzz-user' });
      const rejections: string[] = [];
      user.subscribe(policyRejected, (e) => void rejections.push(e.data.submissionId));
      await user.nc.flush();

      const policyText = (name: string): string =>
        `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: ${name}, namespace: shop }\nspec: { action: ALLOW, rules: [{}] }\n`;
      await user.publish(policySubmit, { kind: 'authorization-policy', text: policyText('before') });

      const random = prng(SEED);
      let sent = 0;
      const refusedByServer: string[] = [];
      for (const principal of outsidePrincipals) {
        const nc = await open(principal);
        const js = jetstream(nc);
        const grant = grants[principal];
        for (let round = 0; round < ROUNDS; round++) {
          for (const def of grant.publishes) {
            const subject = filterOf(def).replace(/\*/g, 'fuzz');
            for (const { payload } of hostilePayloads(def.schema, random)) {
              if (def.stream) {
                // The same message id twice: JetStream stores it once.
                const msgID = `fuzz-${SEED}-${sent}`;
                await js.publish(subject, payload, { msgID, timeout: 5000 }).catch((err: unknown) => {
                  refusedByServer.push(`${subject}: ${String(err)}`);
                });
                await js.publish(subject, payload, { msgID, timeout: 5000 }).catch(() => undefined);
              } else nc.publish(subject, payload);
              sent++;
            }
          }
          for (const def of grant.requests) {
            for (const { payload, kind, invalid } of hostilePayloads(def.subject, random)) {
              const reply = await nc.request(def.subject, payload, { timeout: 5000 });
              const body = JSON.parse(new TextDecoder().decode(reply.data)) as {
                ok?: boolean;
                error?: { code?: string; message?: string };
              };
              assert.equal(typeof body.ok, 'boolean', `${def.subject} (${kind}): ${JSON.stringify(body)}`);
              if (invalid) {
                assert.equal(body.ok, false, `${def.subject} accepted ${kind}`);
                assert.equal(
                  body.error?.code,
                  'invalid_payload',
                  `${def.subject} (${kind}): ${JSON.stringify(body)}`,
                );
                assert.ok(body.error?.message, `${def.subject} (${kind}): the error says why`);
              }
              sent++;
            }
          }
        }
        await nc.flush();
      }
      assert.ok(sent >= 1000, `only ${sent} hostile messages`);
      t.diagnostic(`${sent} hostile messages, ${refusedByServer.length} refused by nats-server`);
      // Only the payload over the server's limit may be refused at the door.
      for (const refusal of refusedByServer) assert.match(refusal, /MAX_PAYLOAD|payload/i, refusal);

      const afterId = 'fuzz-valid-after';
      await user.publish(
        policySubmit,
        { kind: 'authorization-policy', text: policyText('after') },
        { id: afterId },
      );
      let history: { revision: number; submissionId: string }[] = [];
      for (let i = 0; i < 300; i++) {
        const status = await user.request(policyStatus, { history: true }).catch(() => null);
        history = status?.history ?? [];
        if (history.some((h) => h.submissionId === afterId)) break;
        await sleep(100);
      }
      assert.ok(
        history.some((h) => h.submissionId === afterId),
        'the valid submission after the barrage was committed',
      );
      const revisions = history.map((h) => h.revision).sort((a, b) => a - b);
      assert.deepEqual(
        revisions,
        Array.from({ length: revisions.length }, (_, i) => i + 1),
        'revision numbers without gaps',
      );
      assert.equal(revisions.length, 2, 'only the two valid submissions committed');
      assert.ok(rejections.length > 0, 'malformed submissions were answered with rejected events');

      // Each consumer counted what it refused.
      for (const name of ['policy', 'topology', 'ca', 'agent', 'enforcer']) {
        const url = stack.status().find((c) => c.name === name)?.url;
        const metrics = await (await fetch(`${url}/metrics`)).text();
        const invalid = metrics
          .split('\n')
          .filter(
            (line) =>
              line.startsWith('warden_bus_invalid_messages_total{') && line.includes('direction="in"'),
          )
          .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
        assert.ok(invalid > 0, `${name} counted no invalid message`);
      }
      for (const component of stack.status()) {
        assert.equal(component.state, 'ready', `${component.name} is ${component.state}`);
        assert.equal(component.restarts, 0, `${component.name} restarted`);
        if (component.kind === 'service')
          assert.ok(await httpOk(`${component.url}/readyz`), `${component.name} /readyz`);
      }
    } finally {
      await Promise.all(connections.splice(0).map((nc) => nc.close().catch(() => undefined)));
      await stack.stop();
    }
  });
});
