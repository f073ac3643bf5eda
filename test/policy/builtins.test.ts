/**
 * A Rego policy that needs a builtin Warden does not provide to WebAssembly policies is rejected
 * at submission (issue 11, deliverable 1), with the builtin's name, file, line and column in the
 * `rejected` event, instead of compiling and then denying every request; one that uses only
 * provided builtins (JWT, time) is committed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Bus, policyCommitted, policyRejected, policySubmit } from '@warden/events';
import type { DataOf, Envelope } from '@warden/events';
import { useNats } from '@warden/testing';
import { startPolicy } from './helpers.ts';

type Outcome =
  | { type: 'committed'; event: Envelope<DataOf<typeof policyCommitted>> }
  | { type: 'rejected'; event: Envelope<DataOf<typeof policyRejected>> };

const usesHttpSend = `package envoy.authz

import rego.v1

default allow := false

# Asks another service; opa-wasm leaves http.send to the host and Warden does not provide it.
allow if {
	resp := http.send({"method": "GET", "url": "http://authz.internal/check"})
	resp.status_code == 200
}

allow if {
	"10.0.0.1" in net.lookup_ip_addr(input.attributes.request.http.host)
}
`;

const usesJwt = `package envoy.authz

import rego.v1

default allow := false

allow if {
	[_, token] := split(input.attributes.request.http.headers.authorization, " ")
	[valid, _, claims] := io.jwt.decode_verify(token, {"secret": "s"})
	valid
	claims.exp > time.now_ns() / 1000000000
}
`;

describe('policy service: builtins Warden does not provide', () => {
  const nats = useNats();

  it('rejects the submission naming each builtin at its line and column; commits one using provided builtins', async () => {
    const service = await startPolicy(nats.get());
    const user = new Bus(await nats.get().connect('user'), { source: 'test-user' });
    const outcomes = new Map<string, (o: Outcome) => void>();
    user.subscribe(policyCommitted, (event) =>
      outcomes.get(event.data.submissionId)?.({ type: 'committed', event }),
    );
    user.subscribe(policyRejected, (event) =>
      outcomes.get(event.data.submissionId)?.({ type: 'rejected', event }),
    );
    await user.nc.flush();
    const submit = async (data: DataOf<typeof policySubmit>): Promise<Outcome> => {
      const id = randomUUID();
      const outcome = new Promise<Outcome>((resolve) => outcomes.set(id, resolve));
      await user.publish(policySubmit, data, { id });
      return Promise.race([
        outcome,
        sleep(30_000, undefined, { ref: false }).then(() => {
          throw new Error(`no outcome for submission ${id}`);
        }),
      ]);
    };
    try {
      const rejected = await submit({
        kind: 'rego',
        text: usesHttpSend,
        file: 'remote.rego',
        entrypoint: 'envoy/authz/allow',
      });
      assert.equal(rejected.type, 'rejected');
      if (rejected.type !== 'rejected') return;
      assert.deepEqual(
        rejected.event.data.reasons.map((r) => [r.file, r.line, r.column, r.message]),
        [
          [
            'remote.rego',
            9,
            10,
            "rego_unsupported_builtin: builtin http.send is not provided by Warden's WebAssembly evaluator",
          ],
          [
            'remote.rego',
            14,
            16,
            "rego_unsupported_builtin: builtin net.lookup_ip_addr is not provided by Warden's WebAssembly evaluator",
          ],
        ],
      );

      const committed = await submit({
        kind: 'rego',
        text: usesJwt,
        file: 'jwt.rego',
        entrypoint: 'envoy/authz/allow',
      });
      assert.equal(committed.type, 'committed', JSON.stringify(committed.event.data));
    } finally {
      await user.nc.close();
      await service.stop('test');
    }
  });
});
