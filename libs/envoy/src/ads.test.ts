import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Any } from './any.ts';
import { AdsSession } from './ads.ts';
import { ResourceType, TypeUrl } from './xds-resources.ts';
import type { Resources } from './xds-resources.ts';

const any = (text: string): Any => ({ type_url: TypeUrl.listener, value: Buffer.from(text) });
const snapshot = (listeners: Record<string, string>, clusters: Record<string, string> = {}): Resources =>
  new Map([
    [ResourceType.listener, new Map(Object.entries(listeners).map(([k, v]) => [k, any(v)]))],
    [ResourceType.cluster, new Map(Object.entries(clusters).map(([k, v]) => [k, any(v)]))],
    [ResourceType.clusterLoadAssignment, new Map()],
  ]);
const node = { id: 'spiffe://warden.local/ns/shop/sa/frontend', cluster: 'shop' };

describe('ADS session (state of the world)', () => {
  it('answers a subscription, takes the ACK, and pushes only what changed', () => {
    const s = new AdsSession(snapshot({ a: '1', b: '2' }), 'v1');
    const first = s.request({ node, type_url: TypeUrl.listener, resource_names: ['a'] });
    assert.equal(first.responses.length, 1);
    assert.equal(first.responses[0]?.version_info, 'v1');
    assert.equal(first.responses[0]?.resources.length, 1);
    const nonce = first.responses[0]?.nonce;
    const ack = s.request({
      type_url: TypeUrl.listener,
      resource_names: ['a'],
      version_info: 'v1',
      response_nonce: nonce,
    });
    assert.deepEqual(ack.events, [{ kind: 'ack', typeUrl: TypeUrl.listener, version: 'v1' }]);
    assert.equal(ack.responses.length, 0, 'nothing changed');
    assert.equal(s.update(snapshot({ a: '1', b: 'changed' }), 'v2').length, 0, 'b is not subscribed');
    const pushed = s.update(snapshot({ a: 'changed', b: 'changed' }), 'v3');
    assert.equal(pushed.length, 1);
    assert.equal(pushed[0]?.version_info, 'v3');
    assert.equal(s.node?.id, node.id);
  });

  it('records a NACK with the client error and does not re-send the rejected configuration', () => {
    const s = new AdsSession(snapshot({ a: 'bad' }), 'v1');
    const nonce = s.request({ node, type_url: TypeUrl.listener, resource_names: ['a'] }).responses[0]?.nonce;
    const nack = s.request({
      type_url: TypeUrl.listener,
      resource_names: ['a'],
      version_info: '',
      response_nonce: nonce,
      error_detail: { code: 3, message: 'filter validation failed' },
    });
    assert.deepEqual(nack.events, [
      { kind: 'nack', typeUrl: TypeUrl.listener, version: 'v1', message: 'filter validation failed' },
    ]);
    assert.equal(nack.responses.length, 0, 'the same content is not sent again');
    assert.equal(s.update(snapshot({ a: 'bad' }), 'v2').length, 0, 'nor on a rebuild that changed nothing');
    assert.equal(s.update(snapshot({ a: 'fixed' }), 'v3').length, 1, 'a fix goes out');
    assert.deepEqual(s.state().get(TypeUrl.listener)?.nacked, {
      version: 'v1',
      message: 'filter validation failed',
    });
  });

  it('ignores a stale nonce', () => {
    const s = new AdsSession(snapshot({ a: '1' }), 'v1');
    s.request({ node, type_url: TypeUrl.listener, resource_names: ['a'] });
    s.update(snapshot({ a: '2' }), 'v2');
    const stale = s.request({
      type_url: TypeUrl.listener,
      resource_names: ['a'],
      response_nonce: '1',
      error_detail: { message: 'old' },
    });
    assert.deepEqual(stale, { responses: [], events: [] });
    assert.equal(s.state().get(TypeUrl.listener)?.nacked, undefined);
  });

  it('reads an empty first request as the wildcard and a later empty one as unsubscribe', () => {
    const s = new AdsSession(snapshot({}, { c1: 'x', c2: 'y' }), 'v1');
    const wildcard = s.request({ node, type_url: TypeUrl.cluster, resource_names: [] });
    assert.equal(wildcard.responses[0]?.resources.length, 2);
    const nonce = wildcard.responses[0]?.nonce;
    s.request({
      type_url: TypeUrl.cluster,
      resource_names: ['c1'],
      version_info: 'v1',
      response_nonce: nonce,
    });
    const narrowed = s.state().get(TypeUrl.cluster)?.names;
    assert.deepEqual(narrowed instanceof Set ? [...narrowed] : narrowed, ['c1']);
    const later = s.request({
      type_url: TypeUrl.cluster,
      resource_names: [],
      version_info: 'v1',
      response_nonce: s.state().get(TypeUrl.cluster)?.sent?.nonce,
    });
    const names = s.state().get(TypeUrl.cluster)?.names;
    assert.ok(names instanceof Set && names.size === 0, 'unsubscribed');
    assert.equal(later.responses[0]?.resources.length ?? 0, 0);
  });

  it('refuses a type it does not serve', () => {
    const s = new AdsSession(snapshot({}), 'v1');
    const r = s.request({
      node,
      type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
    });
    assert.deepEqual(r.events, [
      {
        kind: 'unknown-type',
        typeUrl: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
      },
    ]);
  });
});
