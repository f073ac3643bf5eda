/**
 * A Rego policy that needs a builtin Warden does not provide to WebAssembly policies is rejected
 * at submission (issue 11, deliverable 1), with the builtin's name, file, line and column in the
 * `rejected` event, instead of compiling and then denying every request; one that uses only
 * provided builtins (JWT, time) is committed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useNats } from '@warden/testing';
import { startPolicyWithSubmitter } from './helpers.ts';

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
    const { service, submit, user } = await startPolicyWithSubmitter(nats.get());
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
