import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials } from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import type { CheckRequest, CheckResponse } from '@warden/envoy';
import { DENY_REASON_HEADER, loadExtAuthz } from '@warden/envoy';
import { Bus, identityRevoked, provision } from '@warden/events';
import { enforcerService } from '@warden/enforcer';
import { freePort, seedFile } from '@warden/infra';
import {
  certificatePem,
  createRootCertificate,
  generateKeyPair,
  inspectCertificate,
  issueLeafCertificate,
} from '@warden/pki';
import { runService } from '@warden/runtime';
import type { RunningService } from '@warden/runtime';
import { useNats } from '@warden/testing';
import { startPolicyWithSubmitter } from '../policy/helpers.ts';

/** A CheckResponse as the client decodes it (enums by name, every field present). */
type Decoded = CheckResponse & {
  http_response: 'ok_response' | 'denied_response';
  denied_response?: { status: { code: string | number } };
};
type CheckClient = Client & {
  Check(request: CheckRequest, callback: (err: ServiceError | null, response?: Decoded) => void): void;
};

/** A Check from a client generated from Envoy's protos, as Envoy's ext_authz filter sends it. */
const check = (client: CheckClient, request: CheckRequest): Promise<Decoded> =>
  new Promise((resolve, reject) =>
    client.Check(request, (err, response) => (err || !response ? reject(err) : resolve(response))),
  );

/** SVIDs from a throwaway root: the peer certificates Envoy passes along (`include_peer_certificate`). */
async function svids(ids: readonly string[]): Promise<Map<string, { pem: string; serial: string }>> {
  const keys = await generateKeyPair();
  const root = await createRootCertificate({
    trustDomain: 'warden.local',
    keys,
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const out = new Map<string, { pem: string; serial: string }>();
  for (const id of ids) {
    const leaf = await issueLeafCertificate({
      spiffeId: id,
      publicKey: (await generateKeyPair()).publicKey,
      issuer: { certificate: root, privateKey: keys.privateKey },
      ttlSeconds: 3600,
    });
    const pem = certificatePem(leaf);
    out.set(id, { pem, serial: inspectCertificate(pem).serial });
  }
  return out;
}

const frontend = 'spiffe://warden.local/ns/shop/sa/frontend';
const stranger = 'spiffe://warden.local/ns/shop/sa/stranger';
const certificates = await svids([frontend, stranger]);

const call = (principal: string, method = 'GET', path = '/pay/42'): CheckRequest => ({
  attributes: {
    source: {
      principal,
      address: { socket_address: { address: '10.0.0.1', port_value: 40000 } },
      certificate: encodeURIComponent(certificates.get(principal)?.pem ?? ''),
    },
    destination: { principal: 'spiffe://warden.local/ns/shop/sa/payment' },
    request: { http: { method, path, headers: { ':authority': 'payment.shop' } } },
    context_extensions: { 'warden.namespace': 'shop', 'warden.label.app': 'payment' },
  },
});

const reasonOf = (response: CheckResponse): string | undefined =>
  response.denied_response?.headers.find((o) => o.header.key === DENY_REASON_HEADER)?.header.value;

const policy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: pay, namespace: shop }
spec:
  selector: { matchLabels: { app: payment } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["warden.local/ns/shop/sa/frontend"] } }]
      to: [{ operation: { methods: ["GET"], paths: ["/pay/*"] } }]
`;

describe('enforcer: ext_authz against the active policy revision', () => {
  const nats = useNats();

  it('denies before any revision, then as the revision says; refuses a missing or revoked certificate and a malformed request', async () => {
    // telemetry-ingest owns the stream the decision records go to; it is not running here.
    await provision(await nats.get().connect('admin'), { streams: ['WARDEN_TELEMETRY', 'WARDEN_IDENTITY'] });
    const { service: policyService, submit } = await startPolicyWithSubmitter(nats.get());
    const port = await freePort();
    let enforcer: RunningService | undefined;
    const Client = loadExtAuthz().Client;
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as CheckClient;
    try {
      const env = {
        WARDEN_NATS_URL: nats.get().url,
        WARDEN_NATS_SEED_FILE: seedFile(nats.get().credsDir, 'enforcer'),
        WARDEN_LOG_LEVEL: 'silent',
        WARDEN_ENFORCER_EXT_AUTHZ_PORT: String(port),
        WARDEN_ENFORCER_RECORD_FLUSH_MS: '20',
      };
      enforcer = await runService(enforcerService, env);
      assert.equal(reasonOf(await check(client, call(frontend))), 'no_revision');

      const outcome = await submit({ kind: 'authorization-policy', text: policy });
      assert.equal(outcome.type, 'committed');
      let allowed = await check(client, call(frontend));
      for (let i = 0; i < 200 && allowed.status.code !== 0; i++) {
        await sleep(25);
        allowed = await check(client, call(frontend));
      }
      assert.equal(allowed.status.code, 0, `still denied: ${reasonOf(allowed)}`);
      assert.equal(allowed.http_response, 'ok_response');

      const denied = await check(client, call(stranger));
      assert.equal(denied.status.code, 7);
      assert.equal(denied.denied_response?.status.code, 'Forbidden');
      assert.equal(reasonOf(denied), 'no_allow_matched');
      const { certificate: _dropped, ...withoutCertificate } = call(frontend).attributes?.source ?? {};
      assert.equal(
        reasonOf(
          await check(client, { attributes: { ...call(frontend).attributes, source: withoutCertificate } }),
        ),
        'no_peer_certificate',
      );
      assert.equal(reasonOf(await check(client, call(frontend, 'DELETE'))), 'no_allow_matched');
      assert.equal(reasonOf(await check(client, { attributes: { destination: {} } })), 'invalid_request');

      // The CA revokes the frontend's certificate: the next check refuses it.
      const ca = new Bus(await nats.get().connect('ca'), { source: 'ca' });
      await ca.publish(identityRevoked, {
        serials: [certificates.get(frontend)?.serial ?? ''],
        spiffeId: frontend,
        reason: 'keyCompromise',
      });
      let revoked = await check(client, call(frontend));
      for (let i = 0; i < 100 && revoked.status.code === 0; i++) {
        await sleep(20);
        revoked = await check(client, call(frontend));
      }
      assert.equal(reasonOf(revoked), 'revoked_identity');
      // A restarted enforcer reads the revocation back from the identity stream.
      await enforcer.stop('restart');
      enforcer = await runService(enforcerService, env);
      assert.equal(reasonOf(await check(client, call(frontend))), 'revoked_identity');
      assert.equal(reasonOf(await check(client, call(stranger))), 'no_allow_matched');

      // Every deny became a decision record on the bus, with its reason and revision.
      const admin = await jetstreamManager(await nats.get().connect('admin'));
      const subject = 'warden.telemetry.v1.access.shop.payment';
      let stored = 0;
      for (let i = 0; i < 100 && stored < 3; i++) {
        await sleep(50);
        stored =
          (await admin.streams.info('WARDEN_TELEMETRY', { subjects_filter: subject }).catch(() => null))
            ?.state.messages ?? 0;
      }
      const records: { decision?: string; reason?: string; revision?: number }[] = [];
      for (let seq = 1; seq <= 20; seq++) {
        const msg = await admin.streams.getMessage('WARDEN_TELEMETRY', { seq }).catch(() => null);
        if (!msg) break;
        records.push(...msg.json<{ data: { records: typeof records } }>().data.records);
      }
      const denies = records.filter((r) => r.decision === 'deny').map((r) => r.reason);
      assert.ok(denies.includes('no_revision'), JSON.stringify(records));
      assert.ok(denies.includes('no_allow_matched'), JSON.stringify(records));
      assert.ok(records.some((r) => r.reason === 'no_allow_matched' && r.revision === 1));
    } finally {
      client.close();
      await enforcer?.stop('test');
      await policyService.stop('test');
    }
  });
});
