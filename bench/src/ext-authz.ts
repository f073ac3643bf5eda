import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import type { CheckRequest } from '@warden/envoy';
import { loadExtAuthz } from '@warden/envoy';
import { allStreams, Bus, Principal, provision } from '@warden/events';
import { binary, freePort, repoRoot, startProcess } from '@warden/infra';
import type { ServerProcess } from '@warden/infra';
import { startTestNats, tempDir } from '@warden/testing';
import type { Benchmark, Figures } from './benchmark.ts';
import { startServiceProcess, submitPolicy } from './services.ts';
import { cpuSecondsOf, microsSince, percentile, round, target } from './benchmark.ts';

/**
 * ext_authz `Check` against the enforcer (its own process, following a revision of 500
 * AuthorizationPolicies plus one Rego policy asked for every request as the CUSTOM provider)
 * and, in the same run, against a Go peer: OPA's Go `rego` package behind go-control-plane's
 * ext_authz server (the core of opa-envoy-plugin), evaluating the equivalent Rego. Both are
 * driven by the same client generated from Envoy's protos, at concurrency 1, 16 and 64, with the
 * same mix of requests (allowed, denied by the Rego policy, denied for want of an ALLOW rule).
 * Throughput per CPU second is the server's requests divided by its own CPU time.
 */

const POLICIES = 500;
const TRUST_DOMAIN = 'warden.local';

const authorizationPolicies = (): string =>
  Array.from(
    { length: POLICIES },
    (_, i) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: svc-${i}, namespace: shop }
spec:
  selector: { matchLabels: { app: svc-${i} } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["${TRUST_DOMAIN}/ns/shop/sa/client-${i}"] } }]
      to: [{ operation: { methods: ["GET"], paths: ["/api/${i}/*"] } }]
`,
  ).join('---\n');

/** Asked for every request: refuses the admin paths whoever calls. */
const regoGuard = `package bench.guard

default allow := true

allow := false if startswith(input.attributes.request.http.path, "/admin")
`;

const customPolicy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: guard, namespace: istio-system }
spec:
  action: CUSTOM
  provider: { name: bench-guard }
  rules: [{}]
`;

/** The same decisions in one Rego module, as an OPA-Envoy user would write them. */
const peerPolicy = `package envoy.authz

default allow := false

allow if {
  not startswith(input.attributes.request.http.path, "/admin")
  rule := data.rules[input.attributes.destination.principal]
  input.attributes.source.principal == rule.source
  input.attributes.request.http.method == "GET"
  input.parsed_path[0] == "api"
  input.parsed_path[1] == rule.segment
}
`;

const peerData = () => ({
  rules: Object.fromEntries(
    Array.from({ length: POLICIES }, (_, i) => [
      `spiffe://${TRUST_DOMAIN}/ns/shop/sa/svc-${i}`,
      { source: `spiffe://${TRUST_DOMAIN}/ns/shop/sa/client-${i}`, segment: String(i) },
    ]),
  ),
});

/** Request `n` of the mix: two in three allowed, then a Rego refusal, then no ALLOW rule. */
function request(n: number): { check: CheckRequest; allowed: boolean } {
  const i = n % POLICIES;
  const kind = n % 6;
  const path = kind === 4 ? '/admin/users' : `/api/${i}/items/${n}?page=2`;
  const client = kind === 5 ? `client-${(i + 1) % POLICIES}` : `client-${i}`;
  return {
    allowed: kind < 4,
    check: {
      attributes: {
        source: {
          principal: `spiffe://${TRUST_DOMAIN}/ns/shop/sa/${client}`,
          address: { socket_address: { address: '10.1.0.7', port_value: 40000 + (n % 1000) } },
        },
        destination: {
          principal: `spiffe://${TRUST_DOMAIN}/ns/shop/sa/svc-${i}`,
          address: { socket_address: { address: '10.1.1.9', port_value: 8080 } },
        },
        request: {
          http: {
            method: 'GET',
            path,
            host: `svc-${i}.shop`,
            headers: {
              ':authority': `svc-${i}.shop`,
              ':method': 'GET',
              ':path': path,
              'user-agent': 'bench',
            },
          },
        },
        context_extensions: { 'warden.namespace': 'shop', 'warden.label.app': `svc-${i}` },
      },
    },
  };
}

type CheckClient = Client & {
  Check(
    request: CheckRequest,
    callback: (err: ServiceError | null, response?: { status: { code: number } }) => void,
  ): void;
};

const checkOnce = (client: CheckClient, check: CheckRequest): Promise<boolean> =>
  new Promise((resolve, reject) =>
    client.Check(check, (err, response) =>
      err || !response ? reject(err) : resolve(response.status.code === 0),
    ),
  );

/** Waits (10 s at most) until the first request of the mix is allowed. */
async function allowedSoon(client: CheckClient, failure: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await checkOnce(client, request(0).check).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(failure);
}

type Phase = { rps: number; p50Micros: number; p99Micros: number; cpuMsPer1k: number; wrong: number };

/** `count` checks with `concurrency` in flight; latency per check, throughput, server CPU. */
async function drive(
  client: CheckClient,
  server: ServerProcess,
  count: number,
  concurrency: number,
): Promise<Phase> {
  const latencies: number[] = [];
  let next = 0;
  let wrong = 0;
  const cpuBefore = cpuSecondsOf(server.child.pid);
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const { check, allowed } = request(next++);
        const t = process.hrtime.bigint();
        if ((await checkOnce(client, check)) !== allowed) wrong++;
        latencies.push(microsSince(t));
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = cpuSecondsOf(server.child.pid) - cpuBefore;
  latencies.sort((a, b) => a - b);
  return {
    rps: round(count / seconds, 0),
    p50Micros: round(percentile(latencies, 50)),
    p99Micros: round(percentile(latencies, 99)),
    cpuMsPer1k: round((cpu * 1_000_000) / count, 1),
    wrong,
  };
}

/** Builds the Go peer from `tools/` (cached by Go after the first time). */
function buildPeer(): string {
  const out = join(repoRoot, '.tools', 'bin', 'extauthz-peer');
  execFileSync('go', ['build', '-o', out, './cmd/extauthz-peer'], {
    cwd: join(repoRoot, 'tools'),
    env: { ...process.env, GOFLAGS: '-mod=readonly' },
    stdio: 'inherit',
  });
  return out;
}

export const extAuthz: Benchmark = {
  name: 'ext-authz',
  description:
    'ext_authz Check p50/p99 and throughput at concurrency 1, 16, 64 (500 AuthorizationPolicies + 1 Rego) vs a Go OPA peer',
  defaults: { warmup: 3000, serial: 3000, parallel: 20000 },
  run: async (params, progress) => {
    const { warmup = 0, serial = 1, parallel = 1 } = params;
    progress('building the Go peer');
    const peerBinary = buildPeer();
    const dir = tempDir('bench-ext-authz');
    const nats = await startTestNats();
    const started: ServerProcess[] = [];
    try {
      const admin = await nats.connect('admin');
      await provision(admin, { streams: allStreams });
      await admin.close();
      const service = async (
        name: 'policy' | 'enforcer',
        env: Record<string, string>,
      ): Promise<ServerProcess> => {
        const proc = await startServiceProcess(nats, dir, name, env);
        started.push(proc);
        return proc;
      };
      await service('policy', { WARDEN_OPA_PATH: binary('opa') });
      const user = new Bus(await nats.connect(Principal.user), { source: 'bench-user' });
      progress(`committing ${POLICIES} AuthorizationPolicies and the Rego guard`);
      await submitPolicy(user, { kind: 'rego', text: regoGuard, entrypoint: 'bench/guard/allow' });
      await submitPolicy(user, {
        kind: 'authorization-policy',
        text: `${authorizationPolicies()}---\n${customPolicy}`,
      });

      const enforcerPort = await freePort();
      const enforcer = await service('enforcer', {
        WARDEN_ENFORCER_EXT_AUTHZ_PORT: String(enforcerPort),
        WARDEN_ENFORCER_XDS_PORT: '0',
        WARDEN_ENFORCER_REQUIRE_PEER_CERTIFICATE: 'false',
      });
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'policy.rego'), peerPolicy);
      writeFileSync(join(dir, 'data.json'), JSON.stringify(peerData()));
      const peerPort = await freePort();
      const peer = await startProcess({
        name: 'extauthz-peer',
        command: peerBinary,
        args: [
          '-addr',
          `127.0.0.1:${peerPort}`,
          '-policy',
          join(dir, 'policy.rego'),
          '-data',
          join(dir, 'data.json'),
        ],
        logFile: join(dir, 'peer.log'),
        ready: async () => true,
      });
      started.push(peer);

      const Client = loadExtAuthz().Client;
      const connect = (port: number) =>
        new Client(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as CheckClient;
      const sides = {
        warden: { client: connect(enforcerPort), server: enforcer },
        peer: { client: connect(peerPort), server: peer },
      };

      // The enforcer follows the revision asynchronously, and the peer may still be binding.
      await allowedSoon(sides.warden.client, 'the enforcer never applied the benchmark revision');
      await allowedSoon(sides.peer.client, 'the Go peer never answered');

      const results: Figures = {};
      const baseline: Figures = {};
      for (const [name, side] of Object.entries(sides)) {
        progress(`${name}: warm-up ${warmup}`);
        await drive(side.client, side.server, warmup, 16);
      }
      for (const concurrency of [1, 16, 64]) {
        const count = concurrency === 1 ? serial : parallel;
        // Alternate which side goes first, so neither always runs on a warmer machine.
        const order = concurrency === 16 ? (['peer', 'warden'] as const) : (['warden', 'peer'] as const);
        for (const name of order) {
          progress(`${name}: concurrency ${concurrency}, ${count} checks`);
          const phase = await drive(sides[name].client, sides[name].server, count, concurrency);
          const into = name === 'warden' ? results : baseline;
          for (const [key, value] of Object.entries(phase)) into[`c${concurrency}.${key}`] = value;
        }
      }
      for (const side of Object.values(sides)) side.client.close();

      const perCpu = (figures: Figures): number => 1_000_000 / Number(figures['c64.cpuMsPer1k']);
      const ratio = round(perCpu(results) / perCpu(baseline), 3);
      return {
        results,
        baseline,
        ratio,
        target: target(
          'p99 under 2 ms at concurrency 16',
          'c16.p99Micros',
          Number(results['c16.p99Micros']),
          '<',
          2000,
        ),
      };
    } finally {
      for (const proc of started.reverse()) await proc.stop().catch(() => undefined);
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
