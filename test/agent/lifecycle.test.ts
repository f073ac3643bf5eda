import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import { EntriesFileError, EntrySelector, OutputFile, SdsSocketError } from '@warden/agent';
import { ConfigError } from '@warden/runtime';
import { Bus, enforceRevoke, identityEntry } from '@warden/events';
import {
  countCaRequests,
  metric,
  newAgentHome,
  newCaHome,
  servedSerial,
  spiffe,
  useAgents,
  waitFor,
  workloadDir,
  writeEntries,
} from './helpers.ts';
import { chainOf, SdsClient } from './sds-client.ts';

describe('agent: cache, CA outage, revocation, entries from events', () => {
  const { nats, running, stopAll, startCa, startAgent, homeWith, joinToken, provisionEnforcement } =
    useAgents();
  const clients: SdsClient[] = [];
  const cleanUp = async (): Promise<void> => {
    for (const c of clients.splice(0)) c.close();
    await stopAll();
  };
  after(cleanUp);
  const web = spiffe('shop', 'web');

  it('a restarted agent serves its cached certificate without asking the CA anything', async () => {
    try {
      running.push(await startCa());
      const home = await homeWith(web);
      const first = await startAgent(home, 'host-a');
      const serial = await waitFor('an SVID', () => servedSerial(home, 'shop.web'));
      await first.stop('restart');

      // Private material on disk is the agent's alone.
      const svids = join(home.dir, 'svids');
      for (const file of readdirSync(svids)) assert.equal(statSync(join(svids, file)).mode & 0o777, 0o600);
      assert.equal(statSync(join(workloadDir(home, 'shop.web'), OutputFile.key)).mode & 0o777, 0o600);
      assert.equal(statSync(home.dir).mode & 0o777, 0o700);

      const requests = await countCaRequests(nats.get());
      const second = await startAgent(home, 'host-a');
      running.push(second);
      const client = new SdsClient(home.socket, 'shop.web', ['default', 'ROOTCA']);
      clients.push(client);
      await waitFor('SDS after the restart', () => client.latest('default') && client.latest('ROOTCA'));
      assert.match(chainOf(client.latest('default')) ?? '', /BEGIN CERTIFICATE/);
      await sleep(300);
      assert.equal(servedSerial(home, 'shop.web'), serial, 'the same certificate');
      assert.equal(requests.count, 0, 'no request to the CA at all');
      assert.equal(await metric(second, 'warden_agent_certificates'), 1);
      assert.ok((await metric(second, 'warden_agent_certificate_expiry_seconds')) > 80_000);
    } finally {
      await cleanUp();
    }
  });

  it('keeps serving its valid certificate while the CA is down, retries, and renews when it returns', async () => {
    try {
      const caHome = newCaHome();
      running.push(await startCa(caHome));
      const home = await homeWith(web);
      // An 8 s SVID wants renewal at about 4 s; the CA is gone by then.
      const agent = await startAgent(home, 'host-a', { WARDEN_AGENT_SVID_TTL_SECONDS: '8' });
      running.push(agent);
      const serial = await waitFor('an SVID', () => servedSerial(home, 'shop.web'));
      const ca = running.shift();
      await ca?.stop('outage');

      await waitFor(
        'failed renewals',
        async () => (await metric(agent, 'warden_agent_ca_request_failures_total')) >= 3,
        10_000,
      );
      assert.equal(servedSerial(home, 'shop.web'), serial, 'still the valid certificate on disk');
      const client = new SdsClient(home.socket, 'shop.web', ['default']);
      clients.push(client);
      await waitFor('SDS still serving', () => client.latest('default'));
      assert.equal(await metric(agent, 'warden_agent_certificates'), 1);

      running.unshift(await startCa(caHome));
      const renewed = await waitFor('a renewal once the CA is back', () => {
        const now = servedSerial(home, 'shop.web');
        return now && now !== serial ? now : null;
      });
      assert.notEqual(renewed, serial);
      assert.ok((await metric(agent, 'warden_agent_rotations_total', 'kind="renewal"')) >= 1);
      await waitFor('the open SDS stream gets it', () => client.received.length >= 2);
      assert.deepEqual(client.errors, []);
    } finally {
      await cleanUp();
    }
  });

  it('drops and deletes a revoked identity within one second, and stops serving it over SDS', async (t) => {
    try {
      await provisionEnforcement();
      running.push(await startCa());
      const api = spiffe('shop', 'api');
      const home = await homeWith(web, api);
      const agent = await startAgent(home, 'host-a');
      running.push(agent);
      await waitFor('both SVIDs', () => servedSerial(home, 'shop.web') && servedSerial(home, 'shop.api'));
      const client = new SdsClient(home.socket, 'shop.web', ['default', 'ROOTCA']);
      clients.push(client);
      await waitFor('default', () => client.latest('default'));
      const before = client.received.length;

      const admin = await nats.get().connect('admin');
      let revokedAt = 0;
      admin.subscribe('warden.identity.v1.revoked', { callback: () => void (revokedAt ||= Date.now()) });
      await admin.flush();
      const user = new Bus(await nats.get().connect('user'), { source: 'test-user' });
      await user.publish(enforceRevoke, { principal: web, reason: 'compromised in a test' });

      const dir = workloadDir(home, 'shop.web');
      const goneAt = await waitFor(
        'files deleted',
        () =>
          !existsSync(join(dir, OutputFile.key)) && !existsSync(join(dir, OutputFile.chain)) && Date.now(),
        5000,
        5,
      );
      assert.ok(revokedAt > 0, 'the CA published warden.identity.v1.revoked');
      assert.ok(goneAt - revokedAt < 1000, `files deleted ${goneAt - revokedAt} ms after the event`);
      const pushed = await waitFor('an SDS push without default', () =>
        client.received.slice(before).find((r) => !r.secrets.some((s) => s.name === 'default')),
      );
      assert.ok(
        pushed.at - revokedAt < 1000,
        `SDS stopped serving it ${pushed.at - revokedAt} ms after the event`,
      );
      assert.ok(
        pushed.secrets.some((s) => s.name === 'ROOTCA'),
        'the bundle is still served',
      );
      t.diagnostic(
        `revocation event → files deleted ${goneAt - revokedAt} ms, → SDS push ${pushed.at - revokedAt} ms`,
      );
      assert.equal(
        readdirSync(join(home.dir, 'svids')).length,
        1,
        'the cached key is deleted; the other stays',
      );

      // A new stream gets nothing for the revoked identity; the other workload is untouched.
      const late = new SdsClient(home.socket, 'shop.web', ['default']);
      clients.push(late);
      await sleep(300);
      assert.equal(late.received.length, 0);
      assert.ok(servedSerial(home, 'shop.api'));
      assert.equal(await metric(agent, 'warden_agent_certificates'), 1);
      assert.equal(await metric(agent, 'warden_agent_revocations_total'), 1);
    } finally {
      await cleanUp();
    }
  });

  it('takes entries from warden.identity.v1.entry events for its host, and drops them on delete', async () => {
    try {
      running.push(await startCa());
      const home = newAgentHome();
      const agent = await startAgent(home, 'host-a', { WARDEN_AGENT_ENTRIES_FILE: undefined });
      running.push(agent);
      const user = new Bus(await nats.get().connect('user'), { source: 'test-user' });
      const token = await joinToken(web);
      // Another host's entry, and an unusable one, are ignored; neither stops the agent.
      await user.publish(identityEntry, {
        op: 'upsert',
        spiffeId: spiffe('x', 'y'),
        host: 'host-b',
        selectors: {},
      });
      await user.publish(identityEntry, {
        op: 'upsert',
        spiffeId: 'spiffe://evil.example/ns/a/sa/b',
        host: 'host-a',
        selectors: {},
      });
      await user.publish(identityEntry, {
        op: 'upsert',
        spiffeId: web,
        host: 'host-a',
        selectors: { [EntrySelector.joinToken]: token, [EntrySelector.name]: 'web' },
      });
      await waitFor('an SVID from an event entry', () => servedSerial(home, 'web'));
      assert.equal(existsSync(workloadDir(home, 'x.y')), false);

      // The entry survives a restart (the consumer resumes after it) and the cache is reused.
      await agent.stop('restart');
      running.pop();
      const requests = await countCaRequests(nats.get());
      const again = await startAgent(home, 'host-a', { WARDEN_AGENT_ENTRIES_FILE: undefined });
      running.push(again);
      await waitFor(
        'certificates held after the restart',
        async () => (await metric(again, 'warden_agent_certificates')) === 1,
      );
      assert.equal(requests.count, 0);

      await user.publish(identityEntry, { op: 'delete', spiffeId: web, host: 'host-a', selectors: {} });
      await waitFor(
        'files removed on delete',
        () => !existsSync(join(workloadDir(home, 'web'), OutputFile.key)),
      );
      assert.equal(await metric(again, 'warden_agent_certificates'), 0);
    } finally {
      await cleanUp();
    }
  });

  it('follows changes of the entries file, and keeps the last good entries when a change is invalid', async () => {
    try {
      running.push(await startCa());
      const api = spiffe('shop', 'api');
      const home = await homeWith(web);
      const agent = await startAgent(home, 'host-a', { WARDEN_AGENT_ENTRIES_POLL_MS: '20' });
      running.push(agent);
      await waitFor('web', () => servedSerial(home, 'shop.web'));

      const webSerial = servedSerial(home, 'shop.web');
      writeEntries(home, [{ spiffeId: web }, { spiffeId: api, joinToken: await joinToken(api) }]);
      await waitFor('api added from the changed file', () => servedSerial(home, 'shop.api'));
      assert.equal(servedSerial(home, 'shop.web'), webSerial, 'web untouched');

      writeFileSync(home.entriesFile, 'entries: [\n  - spiffeId: {{ broken');
      await sleep(200);
      assert.equal(await metric(agent, 'warden_agent_certificates'), 2, 'an invalid file changes nothing');

      writeEntries(home, [{ spiffeId: api }]);
      await waitFor(
        'web removed with its entry',
        () => !existsSync(join(workloadDir(home, 'shop.web'), OutputFile.key)),
      );
      assert.ok(servedSerial(home, 'shop.api'));
      assert.equal(await metric(agent, 'warden_agent_certificates'), 1);
    } finally {
      await cleanUp();
    }
  });

  it('refuses to start on a bad setting, a bad entries file or a foreign file at the socket path', async () => {
    const home = newAgentHome();
    await assert.rejects(startAgent(home, 'host/../a'), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /WARDEN_AGENT_HOST/);
      return true;
    });
    await assert.rejects(startAgent(home, 'host-a', { WARDEN_AGENT_ROTATION_RATIO: '2' }), ConfigError);
    writeFileSync(
      home.entriesFile,
      'entries:\n  - spiffeId: spiffe://cluster.local/ns/a/sa/b\n    joinTokn: x\n',
    );
    await assert.rejects(startAgent(home, 'host-a'), (err: unknown) => {
      assert.ok(err instanceof EntriesFileError);
      assert.equal(err.issues[0]?.line, 2);
      return true;
    });
    writeEntries(home, []);
    writeFileSync(home.socket, 'not a socket');
    await assert.rejects(startAgent(home, 'host-a'), SdsSocketError);
    assert.ok(existsSync(home.socket), 'the agent never deletes what it did not create');
  });
});
