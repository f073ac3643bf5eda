import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bus, caBundle, identityBundle } from '@warden/events';
import { metric, newAgentHome, useAgents, waitFor } from './helpers.ts';

describe('agent: CRL refresh on trust bundle events', () => {
  const { nats, running, stopAll, startCaWithHttp, startAgent } = useAgents();

  it('fetches the CRL again at once on every bundle event, even one with the roots it has', async () => {
    const admin = new Bus(await nats.get().connect('admin'), { source: 'test-admin' });
    try {
      const ca = await startCaWithHttp();
      running.push(ca.service);
      // The periodic refresh is an hour away: any fetch after the first comes from the events.
      const agent = await startAgent(newAgentHome(), 'host-a', {
        WARDEN_AGENT_ENTRIES_FILE: undefined,
        WARDEN_AGENT_CRL_URL: `${ca.url}/v1/crl.pem`,
        WARDEN_AGENT_CRL_REFRESH_MS: '3600000',
      });
      running.push(agent);
      const fetches = (): Promise<number> => metric(agent, 'warden_agent_crl_fetches_total');
      await waitFor('the first CRL', async () => (await fetches()) === 1);

      // The bundle the agent has, as the CA publishes it again after a restart or an
      // intermediate rotation (which keeps the roots).
      const bundle = await admin.request(caBundle, {});
      for (const expected of [2, 3]) {
        await admin.publish(identityBundle, bundle);
        await waitFor(`CRL fetch ${expected}`, async () => (await fetches()) === expected, 5000);
      }
      assert.equal(await metric(agent, 'warden_agent_crl_failures_total'), 0);
    } finally {
      await admin.nc.close();
      await stopAll();
    }
  });
});
