import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { Bus, identityRevoked, provision } from '@warden/events';
import { enforcerService } from '@warden/enforcer';
import { freePort } from '@warden/infra';
import { runService } from '@warden/runtime';
import type { RunningService } from '@warden/runtime';
import { tempDir, useNats } from '@warden/testing';
import { startPolicyWithSubmitter } from '../policy/helpers.ts';
import {
  call,
  certificates,
  check,
  checkClient,
  checkUntil,
  enforcerEnv,
  frontend,
  payPolicy,
  reasonOf,
  stranger,
} from './helpers.ts';

describe('enforcer: ext_authz against the active policy revision', () => {
  const nats = useNats();

  it('denies before any revision, then as the revision says; refuses a missing or revoked certificate and a malformed request', async () => {
    // telemetry-ingest owns the stream the decision records go to; it is not running here.
    await provision(await nats.get().connect('admin'), { streams: ['WARDEN_TELEMETRY', 'WARDEN_IDENTITY'] });
    const { service: policyService, submit } = await startPolicyWithSubmitter(nats.get());
    const port = await freePort();
    let enforcer: RunningService | undefined;
    const client = checkClient(port);
    try {
      const env = enforcerEnv(nats.get(), port, { WARDEN_ENFORCER_RECORD_FLUSH_MS: '20' });
      enforcer = await runService(enforcerService, env);
      assert.equal(reasonOf(await check(client, call(frontend))), 'no_revision');

      const outcome = await submit({ kind: 'authorization-policy', text: payPolicy });
      assert.equal(outcome.type, 'committed');
      const allowed = await checkUntil(client, call(frontend), (r) => r.status.code === 0);
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

      // A Rego policy asked as the CUSTOM provider answers with OPA-Envoy's decision object: its
      // status, body and headers on a denial, its headers on an allowed request.
      const rego = `package hdr

allow := {"allowed": false, "http_status": 401, "body": "login first", "headers": {"www-authenticate": "Bearer"}} if {
  input.parsed_path[1] == "secret"
  not input.truncated_body
}

allow := {"allowed": true, "headers": {"x-checked": "rego"}, "request_headers_to_remove": ["cookie"]} if {
  input.parsed_path[1] != "secret"
  not input.truncated_body
}

allow := {"allowed": false, "http_status": 413, "body": "body too large"} if input.truncated_body
`;
      assert.equal((await submit({ kind: 'rego', text: rego, entrypoint: 'hdr/allow' })).type, 'committed');
      const custom = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: hdr, namespace: istio-system }
spec: { action: CUSTOM, provider: { name: hdr }, rules: [{}] }
`;
      assert.equal((await submit({ kind: 'authorization-policy', text: custom })).type, 'committed');
      const secret = await checkUntil(
        client,
        call(frontend, 'GET', '/pay/secret'),
        (r) => r.status.code !== 0,
      );
      assert.equal(secret.denied_response?.status.code, 'Unauthorized');
      assert.equal(secret.denied_response?.body, 'login first');
      assert.deepEqual(
        secret.denied_response?.headers.map((o) => [o.header.key, o.header.value]),
        [
          ['www-authenticate', 'Bearer'],
          ['x-warden-deny-reason', 'custom_denied'],
        ],
      );
      const decorated = await check(client, call(frontend));
      assert.equal(decorated.status.code, 0);
      assert.deepEqual(
        decorated.ok_response?.headers.map((o) => [o.header.key, o.header.value]),
        [['x-checked', 'rego']],
      );
      assert.deepEqual(decorated.ok_response?.headers_to_remove, ['cookie']);

      // A JSON body within the limit reaches the policy parsed; one over it (64 KiB) arrives
      // truncated, and this policy refuses it.
      const withBody = (body: string) => {
        const request = call(frontend);
        const http = request.attributes?.request?.http;
        if (http) {
          http.headers = { ...http.headers, 'content-type': 'application/json' };
          http.body = body;
        }
        return request;
      };
      assert.equal((await check(client, withBody(JSON.stringify({ item: 1 })))).status.code, 0);
      const tooLarge = await check(client, withBody(JSON.stringify({ blob: 'x'.repeat(70 * 1024) })));
      assert.equal(tooLarge.denied_response?.status.code, 'PayloadTooLarge');
      assert.equal(tooLarge.denied_response?.body, 'body too large');

      // The CA revokes the frontend's certificate: the next check refuses it.
      const ca = new Bus(await nats.get().connect('ca'), { source: 'ca' });
      await ca.publish(identityRevoked, {
        serials: [certificates.get(frontend)?.serial ?? ''],
        spiffeId: frontend,
        reason: 'keyCompromise',
      });
      const revoked = await checkUntil(client, call(frontend), (r) => r.status.code !== 0);
      assert.equal(reasonOf(revoked), 'revoked_identity');
      // A restarted enforcer reads the revocation back from the identity stream.
      await enforcer.stop('restart');
      enforcer = await runService(enforcerService, env);
      assert.equal(reasonOf(await check(client, call(frontend))), 'revoked_identity');
      assert.equal(reasonOf(await check(client, call(stranger))), 'no_allow_matched');

      // Every deny became a decision record on the bus, with its reason and revision.
      const admin = await jetstreamManager(await nats.get().connect('admin'));
      const subject = 'warden.telemetry.v1.decision.shop.payment';
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
      assert.ok(records.some((r) => r.reason === 'custom_denied' && r.revision === 3));
    } finally {
      client.close();
      await enforcer?.stop('test');
      await policyService.stop('test');
    }
  });

  it('denies a source a threat-intelligence feed lists, by address or SPIFFE ID, before any policy', async () => {
    await provision(await nats.get().connect('admin'), { streams: ['WARDEN_TELEMETRY', 'WARDEN_IDENTITY'] });
    const { service: policyService, submit } = await startPolicyWithSubmitter(nats.get());
    const dir = tempDir('feeds');
    const addresses = join(dir, 'drop.txt');
    writeFileSync(addresses, '# listed\n10.0.0.0/24\nnot an address\n');
    const ids = join(dir, 'ids.txt');
    writeFileSync(ids, `${stranger}\n`);
    const port = await freePort();
    const client = checkClient(port);
    let enforcer: RunningService | undefined;
    try {
      assert.equal((await submit({ kind: 'authorization-policy', text: payPolicy })).type, 'committed');
      enforcer = await runService(
        enforcerService,
        enforcerEnv(nats.get(), port, {
          WARDEN_ENFORCER_FEEDS: `drop=plain:${addresses},ids=spiffe:${ids}`,
          WARDEN_ENFORCER_FEED_REFRESH_MS: '1000',
        }),
      );
      const from = (address: string) => {
        const c = call(frontend);
        return {
          attributes: {
            ...c.attributes,
            source: { ...c.attributes?.source, address: { socket_address: { address, port_value: 40000 } } },
          },
        };
      };
      // The policy allows the frontend: only the feed stands between it and payment.
      assert.equal(reasonOf(await check(client, from('10.0.0.1'))), 'threat_intel');
      const outside = await checkUntil(client, from('192.0.2.1'), (r) => r.status.code === 0);
      assert.equal(outside.status.code, 0, `denied: ${reasonOf(outside)}`);
      assert.equal(reasonOf(await check(client, call(stranger))), 'threat_intel');

      // A refreshed feed takes effect without a restart.
      writeFileSync(addresses, '192.0.2.0/24\n');
      const refreshed = await checkUntil(client, from('192.0.2.1'), (r) => reasonOf(r) === 'threat_intel');
      assert.equal(reasonOf(refreshed), 'threat_intel');
      assert.equal((await check(client, from('10.0.0.1'))).status.code, 0);
    } finally {
      client.close();
      await enforcer?.stop('test');
      await policyService.stop('test');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
