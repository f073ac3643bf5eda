import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Any } from './any.ts';
import { DeltaAdsSession } from './ads-delta.ts';
import { ResourceType, TypeUrl } from './xds-resources.ts';
import type { Resources } from './xds-resources.ts';

const any = (text: string): Any => ({ type_url: TypeUrl.listener, value: Buffer.from(text) });
const snapshot = (listeners: Record<string, string>, endpoints: Record<string, string> = {}): Resources =>
  new Map([
    [ResourceType.listener, new Map(Object.entries(listeners).map(([k, v]) => [k, any(v)]))],
    [ResourceType.clusterLoadAssignment, new Map(Object.entries(endpoints).map(([k, v]) => [k, any(v)]))],
  ]);
const node = {
  id: 'sidecar~10.0.0.5~cart-1.shop~shop.svc.cluster.local',
  cluster: 'shop',
  user_agent_name: 'envoy',
};
const names = (r: { resources: { name: string }[] } | undefined): string[] =>
  r?.resources.map((x) => x.name) ?? [];

describe('ADS session (incremental)', () => {
  it('sends everything once, then only what changed and what went away', () => {
    const s = new DeltaAdsSession(snapshot({ a: '1', b: '2' }), 'v1');
    const first = s.request({ node, type_url: TypeUrl.listener });
    assert.deepEqual(names(first.responses[0]), ['a', 'b']);
    assert.equal(s.node?.userAgent, 'envoy');
    const ack = s.request({ type_url: TypeUrl.listener, response_nonce: first.responses[0]?.nonce });
    assert.deepEqual(ack.events, [{ kind: 'ack', typeUrl: TypeUrl.listener, version: 'v1' }]);
    assert.equal(ack.responses.length, 0);
    assert.equal(s.update(snapshot({ a: '1', b: '2' }), 'v2').length, 0, 'a rebuild that changed nothing');
    const changed = s.update(snapshot({ a: '1', b: 'new', c: '3' }), 'v3');
    assert.deepEqual(names(changed[0]), ['b', 'c']);
    assert.equal(changed[0]?.system_version_info, 'v3');
    const gone = s.update(snapshot({ b: 'new', c: '3' }), 'v4');
    assert.deepEqual(names(gone[0]), []);
    assert.deepEqual(gone[0]?.removed_resources, ['a']);
  });

  it('follows explicit subscriptions and unsubscriptions', () => {
    const s = new DeltaAdsSession(snapshot({}, { e1: 'x', e2: 'y', e3: 'z' }), 'v1');
    const first = s.request({
      node,
      type_url: TypeUrl.clusterLoadAssignment,
      resource_names_subscribe: ['e1'],
    });
    assert.deepEqual(names(first.responses[0]), ['e1']);
    const more = s.request({
      type_url: TypeUrl.clusterLoadAssignment,
      resource_names_subscribe: ['e2', 'missing'],
      resource_names_unsubscribe: ['e1'],
    });
    assert.deepEqual(names(more.responses[0]), ['e2']);
    assert.deepEqual(more.responses[0]?.removed_resources, []);
    assert.equal(s.update(snapshot({}, { e1: 'changed', e2: 'y', e3: 'changed' }), 'v2').length, 0);
  });

  it('sends a reconnecting client only what differs from the versions it holds', () => {
    const first = new DeltaAdsSession(snapshot({ a: '1', b: '2' }), 'v1');
    const sent = first.request({ node, type_url: TypeUrl.listener }).responses[0]?.resources ?? [];
    const held = Object.fromEntries(sent.map((r) => [r.name, r.version]));
    const again = new DeltaAdsSession(snapshot({ a: '1', b: 'changed', c: '3' }), 'v2');
    const response = again.request({
      node,
      type_url: TypeUrl.listener,
      initial_resource_versions: { ...held, old: 'v0' },
    }).responses[0];
    assert.deepEqual(names(response), ['b', 'c']);
    assert.deepEqual(response?.removed_resources, ['old']);
  });

  it('records a NACK and does not re-send the rejected resource until it changes', () => {
    const s = new DeltaAdsSession(snapshot({ a: 'bad' }), 'v1');
    const nonce = s.request({ node, type_url: TypeUrl.listener }).responses[0]?.nonce;
    const nack = s.request({
      type_url: TypeUrl.listener,
      response_nonce: nonce,
      error_detail: { code: 3, message: 'invalid listener' },
    });
    assert.deepEqual(nack.events, [
      { kind: 'nack', typeUrl: TypeUrl.listener, version: 'v1', message: 'invalid listener' },
    ]);
    assert.equal(nack.responses.length, 0);
    assert.equal(s.update(snapshot({ a: 'bad' }), 'v2').length, 0);
    assert.deepEqual(names(s.update(snapshot({ a: 'fixed' }), 'v3')[0]), ['a']);
    assert.deepEqual(s.state().get(TypeUrl.listener)?.nacked, { version: 'v1', message: 'invalid listener' });
  });

  it('names a type it does not serve', () => {
    const s = new DeltaAdsSession(snapshot({}), 'v1');
    const r = s.request({
      node,
      type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
    });
    assert.deepEqual(
      r.events.map((e) => e.kind),
      ['unknown-type'],
    );
  });
});
