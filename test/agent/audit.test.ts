import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/nats-core';
import { Bus, enforceRevoke, provision, StreamName } from '@warden/events';
import { metric, servedSerial, spiffe, useAgents, waitFor } from './helpers.ts';

type AuditEvent = {
  source: string;
  data: { actor: string; action: string; target: string; outcome: string; details: Record<string, unknown> };
};

describe('agent: audit events', () => {
  const { nats, running, stopAll, startCaWithHttp, startAgent, homeWith, provisionEnforcement } = useAgents();

  it('records an SVID obtained, an identity dropped on revocation, and a CRL refresh that fails', async () => {
    const connections: NatsConnection[] = [];
    try {
      await provisionEnforcement();
      const admin = await nats.get().connect('admin');
      connections.push(admin);
      await provision(admin, { streams: [StreamName.audit] });
      const events: AuditEvent[] = [];
      admin.subscribe('warden.audit.v1.record.agent.*', {
        callback: (_err, msg) => {
          const event = msg.json<AuditEvent>();
          if (event.data.action.startsWith('agent.')) events.push(event);
        },
      });
      await admin.flush();
      const of = (action: string): AuditEvent[] => events.filter((e) => e.data.action === action);

      const ca = await startCaWithHttp();
      running.push(ca.service);
      const web = spiffe('shop', 'web');
      const home = await homeWith(web);
      // A URL the CA does not serve: every refresh fails, and is retried with backoff.
      const crlUrl = `${ca.url}/v1/no-such-crl.pem`;
      const agent = await startAgent(home, 'host-a', { WARDEN_AGENT_CRL_URL: crlUrl });
      running.push(agent);

      const serial = await waitFor('the SVID', () => servedSerial(home, 'shop.web'));
      const obtained = await waitFor('the obtain audit event', () => of('agent.svid.obtain')[0]);
      assert.equal(obtained.data.target, web);
      assert.equal(obtained.data.outcome, 'success');
      assert.equal(obtained.data.actor, 'agent-host-a');
      assert.deepEqual(
        { kind: obtained.data.details['kind'], serial: obtained.data.details['serial'] },
        { kind: 'bootstrap', serial },
      );

      const user = new Bus(await nats.get().connect('user'), { source: 'test-user' });
      connections.push(user.nc);
      await user.publish(enforceRevoke, { principal: web, reason: 'compromised in a test' });
      const dropped = await waitFor('the drop audit event', () => of('agent.svid.drop')[0]);
      assert.equal(dropped.data.target, web);
      assert.deepEqual(
        { reason: dropped.data.details['reason'], serial: dropped.data.details['serial'] },
        { reason: 'revoked', serial },
      );

      // Several failed refreshes (the metric counts each) are one failing streak in the audit log.
      await waitFor(
        'three failed CRL refreshes',
        async () => (await metric(agent, 'warden_agent_crl_failures_total', 'code="crl_unavailable"')) >= 3,
      );
      const failures = of('agent.crl.refresh');
      assert.equal(failures.length, 1);
      assert.equal(failures[0]?.data.target, crlUrl);
      assert.equal(failures[0]?.data.outcome, 'failure');
      assert.equal(failures[0]?.data.details['code'], 'crl_unavailable');
      assert.equal(await metric(agent, 'warden_agent_crl_fetches_total'), 0);
    } finally {
      await Promise.all(connections.map((nc) => nc.close()));
      await stopAll();
    }
  });
});
