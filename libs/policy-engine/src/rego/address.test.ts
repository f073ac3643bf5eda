/**
 * IPv4-mapped peers (`::ffff:10.0.0.1`, how Node's dual-stack sockets report IPv4 clients) must
 * meet a deny-list the way OPA and Envoy see them: OPA's `net.cidr_contains("10.0.0.0/8",
 * "::ffff:10.0.0.1")` is true (Go's net.IP treats the mapped form as IPv4), and Envoy reports the
 * peer as 10.0.0.1 to Istio's RBAC filter. Warden's Wasm path and its Istio engine must agree.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { promisify } from 'node:util';
import { DEFAULT_ROOT_NAMESPACE } from '../authz/model.ts';
import type { AuthzRequest } from '../authz/model.ts';
import { parseAuthorizationPolicies } from '../authz/parse.ts';
import { PolicyRevision } from '../authz/revision.ts';
import { compileRego } from './compile.ts';
import { RegoPolicy } from './policy.ts';

const opa = new URL('../../../../.tools/bin/opa', import.meta.url).pathname;

const denyList = `package envoy.authz

import rego.v1

default allow := true

allow := false if net.cidr_contains("10.0.0.0/8", input.attributes.source.address.socketAddress.address)
`;

const peers = [
  '::ffff:10.0.0.1',
  '::FFFF:a00:1',
  '0:0:0:0:0:ffff:10.1.2.3',
  '10.0.0.1',
  '192.168.0.1',
  '::ffff:192.168.0.1',
  '2001:db8::1',
  '::1',
];

const request = (ip: string, remoteIp?: string): AuthzRequest => ({
  destination: { namespace: 'default', ip: '10.9.9.9', port: 8080 },
  source: { ip, port: 51000, ...(remoteIp ? { remoteIp } : {}) },
  http: { method: 'GET', path: '/', host: 'api.local' },
});

let policy: RegoPolicy;
/** What OPA itself computes for `net.cidr_contains("10.0.0.0/8", peer)` on the peer as given. */
let opaContains: Record<string, boolean>;

before(async () => {
  policy = await RegoPolicy.load(
    await compileRego({ module: denyList, entrypoint: 'envoy/authz/allow' }, { opa }),
  );
  const dir = await mkdtemp(join(tmpdir(), 'warden-mapped-'));
  try {
    const input = join(dir, 'input.json');
    await writeFile(input, JSON.stringify(peers));
    const { stdout } = await promisify(execFile)(opa, [
      'eval',
      '--format',
      'json',
      '--input',
      input,
      '{p: net.cidr_contains("10.0.0.0/8", p) | some p in input}',
    ]);
    const out = JSON.parse(stdout) as { result: { expressions: { value: Record<string, boolean> }[] }[] };
    opaContains = out.result[0]?.expressions[0]?.value ?? {};
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('net.cidr_contains through the Wasm path agrees with OPA for mapped peers', () => {
  assert.equal(opaContains['::ffff:10.0.0.1'], true, 'OPA treats the mapped form as IPv4');
  for (const peer of peers) {
    const outcome = policy.check(request(peer));
    assert.equal(outcome.error, undefined, `${peer}: ${JSON.stringify(outcome.error)}`);
    assert.equal(outcome.allowed, !opaContains[peer], `${peer}: Warden and OPA disagree`);
  }
});

test('an Istio DENY on ipBlocks / remoteIpBlocks denies an IPv4-mapped peer (fails closed)', () => {
  const yaml = (name: string, field: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: default
spec:
  action: DENY
  rules:
    - from:
        - source:
            ${field}: ["10.0.0.0/8"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-all
  namespace: default
spec:
  action: ALLOW
  rules:
    - {}
`;
  const revision = (field: string) => {
    const { policies, issues } = parseAuthorizationPolicies(yaml(`deny-${field}`, field));
    assert.deepEqual(issues, []);
    return new PolicyRevision(policies, {
      meshDefault: { rootNamespace: DEFAULT_ROOT_NAMESPACE, default: 'deny' },
    });
  };
  const byPeer = revision('ipBlocks');
  for (const peer of ['::ffff:10.0.0.1', '::FFFF:a00:1', '10.0.0.1']) {
    const d = byPeer.decide(request(peer));
    assert.deepEqual([d.allowed, d.reason], [false, 'deny_matched'], peer);
  }
  assert.equal(byPeer.decide(request('::ffff:192.168.0.1')).allowed, true);
  assert.equal(byPeer.decide(request('2001:db8::1')).allowed, true);

  const byRemote = revision('remoteIpBlocks');
  assert.equal(byRemote.decide(request('192.168.0.1', '::ffff:10.0.0.1')).allowed, false);
  assert.equal(byRemote.decide(request('::ffff:10.0.0.1')).allowed, false, 'remoteIp defaults to the peer');
  assert.equal(byRemote.decide(request('10.0.0.1', '::ffff:192.168.0.1')).allowed, true);
});
