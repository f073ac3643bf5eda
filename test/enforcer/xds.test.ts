import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { runCli } from '@warden/cli';
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from '@warden/envoy';
import { loadAds, TypeUrl } from '@warden/envoy';
import { alert, Bus, enforceQuarantine, provision } from '@warden/events';
import { enforcerService } from '@warden/enforcer';
import { binary, freePort } from '@warden/infra';
import { runService } from '@warden/runtime';
import { captureOutput, cliEnv, startXdsWorkload, tempDir, writeXdsBootstrap } from '@warden/testing';
import type { AgentHome } from '../agent/helpers.ts';
import { servedSerial, TRUST_DOMAIN, useAgents, waitFor, workloadDir } from '../agent/helpers.ts';
import { startPolicyWithSubmitter } from '../policy/helpers.ts';
import { startTopologyService, topologyEnv } from '../topology/helpers.ts';
import { enforcerEnv } from './helpers.ts';

const idOf = (namespace: string, sa: string) => `spiffe://${TRUST_DOMAIN}/ns/${namespace}/sa/${sa}`;
/** The agent's folder name for a workload: `<namespace>.<service account>`. */
const folderOf = (id: string): string => id.split('/ns/')[1]?.replace('/sa/', '.') ?? id;

const allow = (principals: string[]) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: payment-callers, namespace: payments }
spec:
  selector: { matchLabels: { app: payment-service } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [${principals.map((p) => JSON.stringify(p)).join(', ')}] } }]
      to: [{ operation: { paths: ["/payments.v1.Payments/*"] } }]
`;

describe('enforcer: proxyless gRPC workloads configured by ADS', () => {
  const agents = useAgents();
  const { nats, redis } = agents;

  /** topology (static registry), policy and the enforcer with its ADS, on the test's servers. */
  async function startMesh(options: { agentCertificates?: boolean } = {}) {
    const admin = await nats.get().connect('admin');
    await provision(admin, {
      streams: ['WARDEN_TELEMETRY', 'WARDEN_IDENTITY', 'WARDEN_TOPOLOGY', 'WARDEN_ALERTS'],
    });
    const frontend = idOf('shop', 'frontend');
    const stranger = idOf('shop', 'stranger');
    const payment = idOf('payments', 'payment-service');
    const dir = tempDir('xds');
    const paymentPort = await freePort();
    const registry = join(dir, 'registry.yaml');
    writeFileSync(
      registry,
      [
        'workloads:',
        `  - { namespace: payments, name: payment-service, address: 127.0.0.1, port: ${paymentPort}, protocol: grpc, serviceAccount: payment-service, labels: { app: payment-service } }`,
        `  - { namespace: shop, name: frontend, address: 127.0.0.1, port: ${await freePort()}, protocol: grpc, serviceAccount: frontend, labels: { app: frontend } }`,
      ].join('\n'),
    );
    const topology = await startTopologyService(
      topologyEnv(nats.get(), redis.get(), {
        WARDEN_TOPOLOGY_STATIC_FILE: registry,
        WARDEN_TRUST_DOMAIN: TRUST_DOMAIN,
      }),
    );
    const { service: policy, submit } = await startPolicyWithSubmitter(nats.get());
    const xdsPort = await freePort();
    const enforcerSettings = enforcerEnv(nats.get(), await freePort(), {
      WARDEN_ENFORCER_XDS_PORT: String(xdsPort),
      WARDEN_TRUST_DOMAIN: TRUST_DOMAIN,
    });
    const enforcer = await runService(enforcerService, enforcerSettings);
    // The certificates come from the real CA through the real agent, in the agent's file layout.
    let home: AgentHome | undefined;
    if (options.agentCertificates) {
      agents.running.push(await agents.startCa());
      home = await agents.homeWith(frontend, stranger, payment);
      agents.running.push(await agents.startAgent(home, 'host-a'));
      const agentHome = home;
      await waitFor(
        'the agent wrote all three SVIDs',
        () => [frontend, stranger, payment].every((id) => servedSerial(agentHome, folderOf(id))),
        60_000,
      );
    }
    const bootstrap = (id: string): string => {
      if (!home) throw new Error('startMesh({ agentCertificates: true }) writes certificates');
      return writeXdsBootstrap(workloadDir(home, folderOf(id)), id, `127.0.0.1:${xdsPort}`);
    };
    let enforcerNow = enforcer;
    const restartEnforcer = async (): Promise<void> => {
      await enforcerNow.stop('restart');
      enforcerNow = await runService(enforcerService, enforcerSettings);
    };
    return {
      admin,
      frontend,
      stranger,
      payment,
      paymentPort,
      submit,
      xdsPort,
      bootstrap,
      restartEnforcer,
      stop: async () => {
        await enforcerNow.stop('test done');
        await policy.stop('test done');
        await topology.stop('test done');
        // The CA and the agent, before the servers they talk to go (the harness stops those after).
        await agents.stopAll();
      },
    };
  }

  it('mTLS between frontend and payment-service, RBAC from policy revisions and quarantine, plaintext refused', async () => {
    const { admin, frontend, stranger, payment, paymentPort, submit, bootstrap, restartEnforcer, stop } =
      await startMesh({ agentCertificates: true });
    const target = `xds:///payment-service.payments:${paymentPort}`;
    const server = startXdsWorkload('server', `127.0.0.1:${paymentPort}`, bootstrap(payment));
    const client = startXdsWorkload('client', target, bootstrap(frontend));
    const intruder = startXdsWorkload('client', target, bootstrap(stranger));
    const plaintext = new (grpc.makeGenericClientConstructor({}, 'Payments'))(
      `127.0.0.1:${paymentPort}`,
      grpc.credentials.createInsecure(),
    );
    try {
      assert.equal(await server.nextLine(), 'ready');

      // No ALLOW policy selects payment-service yet: the mesh default (deny) holds.
      assert.equal(
        (await client.callUntil(grpc.status.PERMISSION_DENIED)).code,
        grpc.status.PERMISSION_DENIED,
      );

      assert.equal(
        (await submit({ kind: 'authorization-policy', text: allow([frontend.slice(9)]) })).type,
        'committed',
      );
      assert.deepEqual(await client.callUntil(grpc.status.OK), { code: grpc.status.OK });
      assert.equal((await intruder.call()).code, grpc.status.PERMISSION_DENIED, 'an identity with no ALLOW');

      // A plaintext client never gets past the TLS handshake.
      const refused = await new Promise<grpc.ServiceError | null>((resolve) =>
        plaintext.makeUnaryRequest(
          '/payments.v1.Payments/Charge',
          (v: unknown) => Buffer.from(JSON.stringify(v)),
          (b: Buffer) => b,
          {},
          { deadline: Date.now() + 3000 },
          (err) => resolve(err),
        ),
      );
      assert.equal(refused?.code, grpc.status.UNAVAILABLE, String(refused?.details));

      // A new revision changes the outcome without a restart.
      assert.equal(
        (await submit({ kind: 'authorization-policy', text: allow([stranger.slice(9)]) })).type,
        'committed',
      );
      assert.equal((await intruder.callUntil(grpc.status.OK)).code, grpc.status.OK);
      assert.equal(
        (await client.callUntil(grpc.status.PERMISSION_DENIED)).code,
        grpc.status.PERMISSION_DENIED,
      );

      // A quarantine of the caller published on the bus, enforced by the running server, kept by a
      // restarted enforcer (and by the workload meanwhile), lifted on expiry.
      const bus = new Bus(admin, { source: 'test-admin' });
      await bus.publish(enforceQuarantine, {
        target: { workload: { namespace: 'shop', workload: 'stranger' } },
        ttlSeconds: 6,
        reason: 'forensics',
      });
      assert.equal(
        (await intruder.callUntil(grpc.status.PERMISSION_DENIED)).code,
        grpc.status.PERMISSION_DENIED,
      );
      await restartEnforcer();
      assert.equal((await intruder.call()).code, grpc.status.PERMISSION_DENIED, 'kept across the restart');
      assert.equal(
        (await intruder.callUntil(grpc.status.OK)).code,
        grpc.status.OK,
        'the quarantine lifted itself',
      );
    } finally {
      plaintext.close();
      for (const w of [client, intruder, server]) w.stop();
      await stop();
    }
  });

  it('counts, alerts and shows a NACK without re-sending the rejected configuration; refuses a type it does not serve', async () => {
    const { admin, frontend, paymentPort, xdsPort, stop } = await startMesh();
    const bus = new Bus(admin, { source: 'test-admin' });
    const alerts: string[] = [];
    bus.subscribe(alert, (event) => {
      alerts.push(event.data.rule);
    });
    type AdsClient = grpc.Client & {
      StreamAggregatedResources(): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
    };
    const Ads = loadAds().Client as unknown as new (
      address: string,
      creds: grpc.ChannelCredentials,
    ) => AdsClient;
    const client = new Ads(`127.0.0.1:${xdsPort}`, grpc.credentials.createInsecure());
    try {
      const stream = client.StreamAggregatedResources();
      const responses: DiscoveryResponse[] = [];
      stream.on('data', (r: DiscoveryResponse) => responses.push(r));
      stream.on('error', () => undefined);
      const listener = `grpc/server?xds.resource.listening_address=127.0.0.1:${paymentPort}`;
      const node = { id: frontend, cluster: 'shop' };
      // The registry arrives within a debounce window or two: ask until the listener is there.
      for (let i = 0; i < 100 && !responses.some((r) => r.resources.length > 0); i++) {
        if (responses.length === 0 || i % 10 === 0)
          stream.write({
            node,
            type_url: TypeUrl.listener,
            resource_names: [listener],
            response_nonce: responses.at(-1)?.nonce ?? '',
            version_info: responses.at(-1)?.version_info ?? '',
          });
        await sleep(50);
      }
      const last = responses.findLast((r) => r.resources.length > 0);
      assert.ok(last, 'the server listener was served');
      const before = responses.length;
      stream.write({
        node,
        type_url: TypeUrl.listener,
        resource_names: [listener],
        response_nonce: last.nonce,
        version_info: '',
        error_detail: { code: 3, message: 'test: listener refused' },
      });
      for (let i = 0; i < 100 && !alerts.includes('ads-configuration-rejected'); i++) await sleep(50);
      assert.ok(alerts.includes('ads-configuration-rejected'), 'the NACK raised an alert');
      await sleep(300);
      assert.equal(responses.length, before, 'the rejected configuration was not sent again');

      const status = await captureOutput((io) =>
        runCli(['enforcer', 'status'], { io, env: cliEnv(nats.get()) }),
      );
      assert.equal(status.code, 0, status.err);
      assert.match(status.out, /Listener\s+\S+\s+-\s+\S+: test: listener refused/);

      const bad = client.StreamAggregatedResources();
      const refused = new Promise<grpc.ServiceError>((resolve) => bad.on('error', resolve));
      bad.on('data', () => undefined);
      bad.write({
        node,
        type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
        resource_names: ['default'],
      });
      const err = await refused;
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /unknown resource type/);
      stream.end();
    } finally {
      client.close();
      await stop();
    }
  });

  it('serves an Envoy sidecar its own workload over incremental ADS, and then only what a policy changed', async () => {
    const { paymentPort, xdsPort, submit, frontend, stop } = await startMesh();
    type DeltaClient = grpc.Client & {
      DeltaAggregatedResources(): grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
    };
    const Ads = loadAds().Client as unknown as new (
      address: string,
      creds: grpc.ChannelCredentials,
    ) => DeltaClient;
    const client = new Ads(`127.0.0.1:${xdsPort}`, grpc.credentials.createInsecure());
    try {
      const stream = client.DeltaAggregatedResources();
      const responses: DeltaDiscoveryResponse[] = [];
      stream.on('data', (r: DeltaDiscoveryResponse) => {
        responses.push(r);
        stream.write({ type_url: r.type_url, response_nonce: r.nonce });
      });
      stream.on('error', () => undefined);
      const node = {
        id: 'sidecar~127.0.0.1~payment-service-1.payments~payments.svc.cluster.local',
        cluster: 'payments',
        user_agent_name: 'envoy',
      };
      stream.write({ node, type_url: TypeUrl.listener });
      const held = new Map<string, DeltaDiscoveryResponse['resources'][number]>();
      const listeners = (): string[] => [...held.keys()].sort();
      const fold = (from: number): void => {
        for (const r of responses.slice(from)) {
          for (const resource of r.resources) held.set(resource.name, resource);
          for (const name of r.removed_resources) held.delete(name);
        }
      };
      // The registry arrives within a debounce window or two.
      await waitFor('the sidecar’s listeners', () => {
        fold(0);
        return held.has('virtualInbound') && held.size >= 3;
      });
      const frontendPort = listeners().find((n) => n.startsWith('0.0.0.0_'));
      assert.deepEqual(listeners(), [frontendPort, 'virtualInbound', 'virtualOutbound']);
      assert.notEqual(frontendPort, `0.0.0.0_${paymentPort}`, 'its own port is inbound only');

      const seen = responses.length;
      assert.equal(
        (await submit({ kind: 'authorization-policy', text: allow([frontend.slice(9)]) })).type,
        'committed',
      );
      await waitFor('a push after the revision', () => responses.length > seen);
      assert.deepEqual(
        responses.slice(seen).flatMap((r) => r.resources.map((x) => x.name)),
        ['virtualInbound'],
        'only the listener whose RBAC changed is sent again',
      );
      fold(seen);

      // What was served passes Envoy's own validation rules.
      const payload = {
        resources: [...held.values()].map((r) => ({
          name: r.name,
          type_url: r.resource.type_url,
          value: Buffer.from(r.resource.value).toString('base64'),
        })),
      };
      assert.equal(
        execFileSync(binary('xds-validate'), { input: JSON.stringify(payload), encoding: 'utf8' }),
        '',
      );
      stream.end();
    } finally {
      client.close();
      await stop();
    }
  });
});
