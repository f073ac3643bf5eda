import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { CheckRequest, DiscoveryRequest, DiscoveryResponse } from '@warden/envoy';
import { loadAds, loadExtAuthz, serverListenerName, TypeUrl } from '@warden/envoy';
import {
  allStreams,
  Bus,
  enforceQuarantine,
  enforceRelease,
  Principal,
  provision,
  quarantineRuleId,
} from '@warden/events';
import { binary, freePort } from '@warden/infra';
import { certificatePem } from '@warden/pki';
import type { ServerProcess } from '@warden/infra';
import {
  startTestNats,
  startTestRedis,
  startXdsWorkload,
  tempDir,
  testLeaf,
  testTrustDomain,
  xdsWorkloadFiles,
} from '@warden/testing';
import type { TestNats } from '@warden/testing';
import type { Benchmark, Figures } from './benchmark.ts';
import { percentile, round, target } from './benchmark.ts';
import { startServiceProcess, submitPolicy } from './services.ts';

const TRUST_DOMAIN = 'warden.local';

type Registered = { namespace: string; name: string; address: string; port: number };

/** nats, redis, and topology (a static registry), policy and the enforcer, each in its process. */
async function startMesh(
  dir: string,
  workloads: readonly Registered[],
  enforcerEnv: Record<string, string> = {},
) {
  const nats = await startTestNats();
  const redis = await startTestRedis();
  const processes: ServerProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const p of processes.reverse()) await p.stop();
    await redis.stop();
    await nats.stop();
  };
  try {
    const admin = await nats.connect('admin');
    await provision(admin, { streams: allStreams });
    const registry = join(dir, 'registry.yaml');
    writeFileSync(
      registry,
      [
        'workloads:',
        ...workloads.map(
          (w) =>
            `  - { namespace: ${w.namespace}, name: ${w.name}, address: ${w.address}, port: ${w.port}, protocol: grpc, serviceAccount: ${w.name}, labels: { app: ${w.name} } }`,
        ),
      ].join('\n'),
    );
    processes.push(
      await startServiceProcess(nats, dir, 'topology', {
        ...redis.env('topology'),
        WARDEN_TOPOLOGY_STATIC_FILE: registry,
        WARDEN_TRUST_DOMAIN: TRUST_DOMAIN,
      }),
    );
    processes.push(await startServiceProcess(nats, dir, 'policy', { WARDEN_OPA_PATH: binary('opa') }));
    const xdsPort = await freePort();
    const extAuthzPort = await freePort();
    processes.push(
      await startServiceProcess(nats, dir, 'enforcer', {
        WARDEN_ENFORCER_XDS_PORT: String(xdsPort),
        WARDEN_ENFORCER_EXT_AUTHZ_PORT: String(extAuthzPort),
        WARDEN_ENFORCER_REQUIRE_PEER_CERTIFICATE: 'false',
        WARDEN_TRUST_DOMAIN: TRUST_DOMAIN,
        ...enforcerEnv,
      }),
    );
    const user = new Bus(await nats.connect(Principal.user), { source: 'bench-user' });
    return {
      nats: nats as TestNats,
      admin: new Bus(admin, { source: 'bench-admin' }),
      user,
      xdsPort,
      extAuthzPort,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

const allowFrom = (namespace: string, extra: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: mesh-callers, namespace: ${namespace} }
spec:
  action: ALLOW
  rules:
    - from: [{ source: { namespaces: ["${namespace}", "${extra}"] } }]
`;

type AdsClient = grpc.Client & {
  StreamAggregatedResources(): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
};

/**
 * One workload's ADS stream: subscribes to its server listener, ACKs every response, and notes
 * when it ACKed the first response of each policy revision.
 */
function adsStream(client: AdsClient, listener: string, node: string) {
  const stream = client.StreamAggregatedResources();
  const ackedAt = new Map<number, bigint>();
  const waiters: { revision: number; resolve: () => void }[] = [];
  stream.on('data', (r: DiscoveryResponse) => {
    stream.write({
      node: { id: node },
      type_url: r.type_url,
      resource_names: [listener],
      version_info: r.version_info,
      response_nonce: r.nonce,
    });
    if (r.resources.length === 0) return;
    const revision = Number(r.version_info.split('.')[0]);
    if (!ackedAt.has(revision)) ackedAt.set(revision, process.hrtime.bigint());
    for (const w of waiters.splice(0)) {
      if (revision >= w.revision) w.resolve();
      else waiters.push(w);
    }
  });
  stream.on('error', () => undefined);
  stream.write({
    node: { id: node, cluster: 'bench' },
    type_url: TypeUrl.listener,
    resource_names: [listener],
  });
  const latest = (): number => Math.max(-1, ...ackedAt.keys());
  return {
    /** Resolves once a response of `revision` (or later) has been ACKed. */
    reached: (revision: number): Promise<void> =>
      latest() >= revision
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ revision, resolve })),
    ackedAt: (revision: number): bigint | undefined => ackedAt.get(revision),
    close: () => stream.end(),
  };
}

const adsClientClass = (): new (
  address: string,
  creds: grpc.ChannelCredentials,
  options: object,
) => AdsClient =>
  loadAds().Client as unknown as new (
    address: string,
    creds: grpc.ChannelCredentials,
    options: object,
  ) => AdsClient;

export const xdsFanout: Benchmark = {
  name: 'xds-fanout',
  description:
    'ADS fan-out: time from a policy revision to the last ACK of N concurrent streams, vs one stream',
  defaults: { streams: 1000, rounds: 3, channels: 10 },
  run: async (params, progress) => {
    const { streams = 1000, rounds = 3, channels = 10 } = params;
    const dir = tempDir('bench-xds-fanout');
    const workloads = Array.from({ length: streams }, (_, i) => ({
      namespace: 'mesh',
      name: `svc-${i}`,
      address: `127.1.${i >> 8}.${i & 255}`,
      port: 8443,
    }));
    progress(`starting nats, redis, topology (${streams} workloads), policy and the enforcer`);
    const mesh = await startMesh(dir, workloads);
    const Ads = adsClientClass();
    const clients = Array.from(
      { length: channels },
      // Separate connections, as separate workloads would have.
      (_, i) =>
        new Ads(`127.0.0.1:${mesh.xdsPort}`, grpc.credentials.createInsecure(), {
          'grpc.channel_pool_id': i + 1,
          'grpc.use_local_subchannel_pool': 1,
        }),
    );
    let revision = 0;
    /** A new revision; returns when its verdict (the commit) arrived. */
    const nextRevision = async (): Promise<{ committed: bigint; revision: number }> => {
      revision++;
      await submitPolicy(mesh.user, {
        kind: 'authorization-policy',
        text: allowFrom('mesh', `other-${revision}`),
      });
      return { committed: process.hrtime.bigint(), revision };
    };
    try {
      await nextRevision();
      const measure = async (open: ReturnType<typeof adsStream>[]): Promise<number> => {
        const { committed, revision: r } = await nextRevision();
        await Promise.all(open.map((s) => s.reached(r)));
        const last = open.map((s) => s.ackedAt(r) ?? committed).reduce((a, b) => (a > b ? a : b));
        return Number(last - committed) / 1e6;
      };
      const connect = (from: number, to: number) =>
        workloads
          .slice(from, to)
          .map((w, i) =>
            adsStream(
              clients[(from + i) % channels] as AdsClient,
              serverListenerName(w.address, w.port),
              `spiffe://${TRUST_DOMAIN}/ns/mesh/sa/${w.name}`,
            ),
          );
      progress('one stream');
      const single = connect(0, 1);
      await Promise.all(single.map((s) => s.reached(revision)));
      const one: number[] = [];
      for (let i = 0; i < rounds; i++) one.push(await measure(single));
      progress(`${streams} streams`);
      const all = [...single, ...connect(1, streams)];
      await Promise.all(all.map((s) => s.reached(revision)));
      const many: number[] = [];
      for (let i = 0; i < rounds; i++) {
        many.push(await measure(all));
        progress(`round ${i + 1}: ${round(many.at(-1) ?? 0)} ms`);
      }
      for (const s of all) s.close();
      const median = (xs: number[]) =>
        percentile(
          [...xs].sort((a, b) => a - b),
          50,
        );
      const manyMs = round(median(many));
      return {
        results: { streams, revisionToLastAckMs: many.map((v) => round(v)), medianMs: manyMs },
        baseline: { streams: 1, revisionToAckMs: one.map((v) => round(v)), medianMs: round(median(one)) },
        ratio: round(manyMs / median(one), 2),
        target: target(
          `policy revision to the last ACK of ${streams} streams`,
          'results.medianMs',
          manyMs,
          '<',
          1000,
        ),
      };
    } finally {
      for (const c of clients) c.close();
      await mesh.stop();
    }
  },
};

type CheckClient = grpc.Client & {
  Check(
    request: CheckRequest,
    callback: (err: grpc.ServiceError | null, response?: { status: { code: number } }) => void,
  ): void;
};

export const containmentTime: Benchmark = {
  name: 'containment-time',
  description:
    'time from a warden.enforce.v1.quarantine publish to the first refused call: proxyless gRPC (ADS) and HAProxy, vs ext_authz',
  defaults: { trials: 50 },
  run: async (params, progress) => {
    const { trials = 50 } = params;
    const dir = tempDir('bench-containment');
    const paymentPort = await freePort();
    const domain = await testTrustDomain(TRUST_DOMAIN);
    // payment-service's agent folder, a plain backend, and a terminator in front of it.
    const agentDir = join(dir, 'agent');
    mkdirSync(agentDir);
    const serverLeaf = await testLeaf(
      domain.intermediate,
      `spiffe://${TRUST_DOMAIN}/ns/payments/sa/payment-service`,
    );
    writeFileSync(join(agentDir, 'cert-chain.pem'), serverLeaf.chainPem.join(''));
    writeFileSync(join(agentDir, 'key.pem'), serverLeaf.keyPem);
    writeFileSync(join(agentDir, 'root-cert.pem'), certificatePem(domain.root.certificate));
    writeFileSync(join(agentDir, 'crl.pem'), await domain.crls());
    const backend = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const terminatorPort = await freePort();
    writeFileSync(
      join(dir, 'terminators.yaml'),
      [
        'terminators:',
        '  - workload: payments/payment-service',
        `    bind: 127.0.0.1:${terminatorPort}`,
        `    backend: 127.0.0.1:${(backend.address() as { port: number }).port}`,
        `    certificateDir: ${agentDir}`,
      ].join('\n'),
    );
    const mesh = await startMesh(
      dir,
      [{ namespace: 'payments', name: 'payment-service', address: '127.0.0.1', port: paymentPort }],
      {
        WARDEN_ENFORCER_TERMINATORS_FILE: join(dir, 'terminators.yaml'),
        WARDEN_ENFORCER_TERMINATOR_DIR: join(dir, 'terminators'),
      },
    );
    const ads = `127.0.0.1:${mesh.xdsPort}`;
    const caller = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/frontend`;
    const server = startXdsWorkload(
      'server',
      `127.0.0.1:${paymentPort}`,
      await xdsWorkloadFiles(domain, `spiffe://${TRUST_DOMAIN}/ns/payments/sa/payment-service`, ads),
    );
    const client = startXdsWorkload(
      'client',
      `xds:///payment-service.payments:${paymentPort}`,
      await xdsWorkloadFiles(domain, caller, ads),
    );
    const Check = loadExtAuthz().Client;
    const checker = new Check(
      `127.0.0.1:${mesh.extAuthzPort}`,
      grpc.credentials.createInsecure(),
    ) as unknown as CheckClient;
    const check: CheckRequest = {
      attributes: {
        source: {
          principal: caller,
          address: { socket_address: { address: '127.0.0.1', port_value: 40000 } },
        },
        destination: { principal: `spiffe://${TRUST_DOMAIN}/ns/payments/sa/payment-service` },
        request: { http: { method: 'POST', path: '/payments.v1.Payments/Charge', headers: {} } },
        context_extensions: { 'warden.namespace': 'payments', 'warden.label.app': 'payment-service' },
      },
    };
    const callerLeaf = await testLeaf(domain.intermediate, caller);
    /** One call through the terminator on a new connection: allowed (200) or not. */
    const terminatorAllowed = (): Promise<boolean> =>
      new Promise((resolve) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: terminatorPort,
            path: '/',
            ca: certificatePem(domain.root.certificate),
            checkServerIdentity: () => undefined,
            agent: false,
            cert: callerLeaf.chainPem.join(''),
            key: callerLeaf.keyPem,
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode === 200));
          },
        );
        req.on('error', () => resolve(false));
        req.end();
      });
    const checkAllowed = (): Promise<boolean> =>
      new Promise((resolve) => checker.Check(check, (err, r) => resolve(!err && r?.status.code === 0)));
    const quarantined = { workload: { namespace: 'shop', workload: 'frontend' } } as const;
    try {
      await submitPolicy(mesh.user, { kind: 'authorization-policy', text: allowFrom('payments', 'shop') });
      if ((await server.nextLine()) !== 'ready')
        throw new Error('the payment-service workload did not start');
      if ((await client.callUntil(grpc.status.OK)).code !== 0)
        throw new Error('the frontend never got through');
      if (!(await terminatorAllowed()))
        throw new Error('the terminator refused the frontend before any quarantine');
      const proxyless: number[] = [];
      const extAuthz: number[] = [];
      const terminator: number[] = [];
      for (let i = 0; i < trials; i++) {
        const started = process.hrtime.bigint();
        await mesh.admin.publish(enforceQuarantine, {
          target: quarantined,
          ttlSeconds: 600,
          reason: 'benchmark',
        });
        const viaAds = (async () => {
          const outcome = await client.callUntil(grpc.status.PERMISSION_DENIED, {
            tries: 10_000,
            everyMs: 0,
          });
          if (outcome.code !== grpc.status.PERMISSION_DENIED)
            throw new Error('the quarantine never reached the workload');
          return Number(process.hrtime.bigint() - started) / 1e6;
        })();
        const viaCheck = (async () => {
          for (let n = 0; n < 10_000; n++)
            if (!(await checkAllowed())) return Number(process.hrtime.bigint() - started) / 1e6;
          throw new Error('the quarantine never reached ext_authz');
        })();
        const viaHaproxy = (async () => {
          for (let n = 0; n < 10_000; n++)
            if (!(await terminatorAllowed())) return Number(process.hrtime.bigint() - started) / 1e6;
          throw new Error('the quarantine never reached the terminator');
        })();
        const [a, c, h] = await Promise.all([viaAds, viaCheck, viaHaproxy]);
        proxyless.push(a);
        extAuthz.push(c);
        terminator.push(h);
        await mesh.admin.publish(enforceRelease, {
          ruleId: quarantineRuleId(quarantined),
          reason: 'benchmark',
        });
        for (let n = 0; n < 2000 && !(await terminatorAllowed()); n++)
          await new Promise((r) => setTimeout(r, 2));
        if ((await client.callUntil(grpc.status.OK, { tries: 10_000, everyMs: 1 })).code !== 0)
          throw new Error('the release never reached the workload');
        if (i % 10 === 9)
          progress(
            `${i + 1}/${trials}: last ${round(a)} ms (ADS), ${round(h)} ms (HAProxy), ${round(c)} ms (ext_authz)`,
          );
      }
      const stats = (xs: number[]) => {
        const sorted = [...xs].sort((a, b) => a - b);
        return {
          trials: xs.length,
          p50Ms: round(percentile(sorted, 50)),
          p99Ms: round(percentile(sorted, 99)),
          maxMs: round(sorted.at(-1) ?? 0),
        };
      };
      const ads = stats(proxyless);
      const haproxy = stats(terminator);
      const baseline = stats(extAuthz);
      const results: Figures = {
        trials: ads.trials,
        p50Ms: ads.p50Ms,
        p99Ms: ads.p99Ms,
        maxMs: ads.maxMs,
        haproxyP50Ms: haproxy.p50Ms,
        haproxyP99Ms: haproxy.p99Ms,
        haproxyMaxMs: haproxy.maxMs,
      };
      return {
        results,
        baseline,
        ratio: round(ads.p99Ms / baseline.p99Ms, 2),
        target: target(
          'quarantine publish to the first refused call, p99, at the slower of a proxyless gRPC workload and HAProxy',
          'max(results.p99Ms, results.haproxyP99Ms)',
          Math.max(ads.p99Ms, haproxy.p99Ms),
          '<',
          200,
        ),
      };
    } finally {
      checker.close();
      client.stop();
      server.stop();
      await mesh.stop();
      backend.close();
    }
  },
};
