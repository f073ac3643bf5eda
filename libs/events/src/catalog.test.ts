import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditSubjectOf, ENTRY_MEMBERS } from '@warden/audit';
import {
  alert,
  audit,
  auditCheckpoint,
  auditEntry,
  events,
  requests,
  telemetryAccess,
  topologyHeartbeat,
} from './catalog.ts';
import { filterOf, matchesEvent, StreamName, subjectOf } from './define.ts';
import { InvalidSubjectError } from './errors.ts';
import { grants, natsPermissions, ownedResources, Principal, servicePrincipals } from './permissions.ts';
import { streamSpecs, streamSubjects } from './streams.ts';

describe('subjects', () => {
  it('builds concrete subjects and filters from qualifiers', () => {
    assert.equal(
      subjectOf(alert, { severity: 'critical', namespace: 'shop', workload: 'cart' }),
      'warden.alert.v1.critical.shop.cart',
    );
    assert.equal(filterOf(alert), 'warden.alert.v1.*.*.*');
    assert.equal(filterOf(alert, { severity: 'critical' }), 'warden.alert.v1.critical.*.*');
    assert.equal(filterOf(topologyHeartbeat, { namespace: 'shop' }), 'warden.topology.v1.heartbeat.shop.*');
  });

  it('refuses qualifiers that would change the subject shape', () => {
    for (const bad of ['a.b', '*', '>', '', 'has space']) {
      assert.throws(
        () => subjectOf(telemetryAccess, { namespace: bad, workload: 'w' }),
        InvalidSubjectError,
        bad,
      );
    }
  });

  it('recognises its own subjects only', () => {
    assert.ok(matchesEvent(alert, 'warden.alert.v1.info.a.b'));
    assert.ok(!matchesEvent(alert, 'warden.alert.v1.info.a'));
    assert.ok(!matchesEvent(alert, 'warden.alert.v10.info.a.b'));
  });

  it('follows the warden.<domain>.v<N>.<event> naming, lower-case', () => {
    for (const def of [...Object.values(events)])
      assert.match(def.schema, /^warden\.[a-z]+\.v\d+(\.[a-z]+)?$/);
    for (const def of Object.values(requests)) assert.match(def.subject, /^warden\.[a-z]+\.v\d+\.[a-z]+$/);
  });
});

describe('streams', () => {
  it('captures each stored event in exactly one stream and never a core subject', () => {
    const all = streamSpecs.flatMap((s) =>
      streamSubjects(s.name).map((subject) => ({ stream: s.name, subject })),
    );
    const subjects = all.map((a) => a.subject);
    assert.equal(new Set(subjects).size, subjects.length);
    assert.ok(!subjects.some((s) => s.startsWith('warden.topology.v1.heartbeat')));
    assert.deepEqual(streamSubjects(StreamName.policy).sort(), [
      'warden.policy.v1.applied',
      'warden.policy.v1.committed',
      'warden.policy.v1.rejected',
      'warden.policy.v1.submit',
    ]);
  });

  it('lays out audit subjects as @warden/audit reads them', () => {
    const writer = { principal: 'ca', instance: 'ca-local' };
    assert.deepEqual(auditSubjectOf(subjectOf(audit, writer)), { type: 'record', writer });
    assert.deepEqual(auditSubjectOf(subjectOf(auditCheckpoint, writer)), { type: 'checkpoint', writer });
    assert.equal(auditSubjectOf('warden.audit.v1.record.ca'), null);
  });

  it('bounds the evidence an alert carries', () => {
    const sample = {
      time: '2026-12-04T12:00:00.000Z',
      source: { address: '10.0.0.7' },
      destination: { namespace: 'shop', workload: 'cart' },
      protocol: 'http',
      status: 503,
    };
    const firing = (samples: number, extra: object = {}) => ({
      alertId: 'a1',
      status: 'firing',
      severity: 'warning',
      rule: '5xx-storm',
      target: { namespace: 'shop', workload: 'cart' },
      summary: 's',
      startsAt: '2026-12-04T12:00:01.000Z',
      evidence: {
        detector: 'streaming-rule',
        samples: Array.from({ length: samples }, () => sample),
        ...extra,
      },
    });
    assert.equal(alert.validateData(firing(5)).ok, true);
    assert.equal(alert.validateData(firing(6)).ok, false);
    assert.equal(alert.validateData(firing(1, { detector: 'someone-else' })).ok, false);
    assert.equal(alert.validateData(firing(1, { samplesNote: 'x'.repeat(513) })).ok, false);
  });

  it('gives an audit entry exactly the members the chain writes (ChainHead.linkEntry)', () => {
    assert.deepEqual(Object.keys(auditEntry.shape).sort(), [...ENTRY_MEMBERS].sort());
  });

  it('keeps the audit stream append-only and unlimited', () => {
    const auditSpec = streamSpecs.find((s) => s.name === StreamName.audit);
    assert.deepEqual(auditSpec && [auditSpec.appendOnly, auditSpec.maxAgeMs, auditSpec.maxBytes], [
      true,
      0,
      -1,
    ]);
  });
});

describe('permissions table', () => {
  it('gives every stored event a service publisher that provisions its stream', () => {
    for (const def of Object.values(events)) {
      if (!def.stream) continue;
      const owners = servicePrincipals.filter((p) =>
        ownedResources(p).streams.includes(def.stream as StreamName),
      );
      assert.ok(owners.length > 0, `${def.schema} has no service that provisions ${def.stream}`);
    }
  });

  it('has someone answering every request a principal makes', () => {
    for (const [principal, grant] of Object.entries(grants)) {
      for (const req of grant.requests) {
        const servers = Object.values(grants).filter((g) => g.serves.includes(req));
        assert.equal(servers.length, 1, `${principal} requests ${req.subject}, served by ${servers.length}`);
      }
    }
  });

  it('lets people publish but not create streams', () => {
    const user = natsPermissions(Principal.user).publish.allow;
    assert.ok(user.includes('warden.policy.v1.submit'));
    assert.ok(!user.some((s) => s.startsWith('$JS.API.STREAM.CREATE')));
    assert.ok(
      natsPermissions(Principal.policy).publish.allow.includes('$JS.API.STREAM.CREATE.WARDEN_POLICY'),
    );
  });

  it('lets people follow alerts live, as ARCHITECTURE §2 promises', () => {
    assert.ok(natsPermissions(Principal.user).subscribe.allow.includes('warden.alert.>'));
  });

  it('never grants a wildcard over another principal subjects', () => {
    for (const principal of Object.values(Principal)) {
      const { publish, subscribe } = natsPermissions(principal);
      for (const s of [...publish.allow, ...subscribe.allow]) {
        assert.ok(!['>', 'warden.>', '$JS.API.>', '_INBOX.>'].includes(s), `${principal}: ${s}`);
      }
    }
  });
});
