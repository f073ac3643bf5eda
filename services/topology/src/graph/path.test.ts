import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isIdentifier, normaliseMethod, pathPrefix } from './path.ts';

describe('path-prefix bucketing', () => {
  it('keeps the first segments and drops the query', () => {
    assert.equal(pathPrefix('/api/v1/orders/items?x=1', 'http', 2), '/api/v1');
    assert.equal(pathPrefix('/api/v1/orders/items', 'http', 3), '/api/v1/orders');
    assert.equal(pathPrefix('/health', 'http', 2), '/health');
    assert.equal(pathPrefix('/', 'http', 2), '/');
    assert.equal(pathPrefix('', 'http', 2), '');
    assert.equal(pathPrefix(undefined, 'tcp', 2), '');
  });

  it('replaces identifiers so objects do not split an edge', () => {
    assert.equal(pathPrefix('/orders/8812/items', 'http', 2), '/orders/{id}');
    assert.equal(pathPrefix('/orders/9931/items', 'http', 2), '/orders/{id}');
    assert.equal(pathPrefix('/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301', 'http', 2), '/u/{id}');
    assert.equal(pathPrefix('/blob/deadbeefdeadbeefdeadbeef', 'http', 2), '/blob/{id}');
    assert.ok(isIdentifier('aGVsbG8gd29ybGQ5OTk5OTk5OQ'));
    assert.ok(!isIdentifier('checkout'));
    assert.ok(!isIdentifier('v1'));
  });

  it('keeps gRPC methods whole, and bounds the length', () => {
    assert.equal(pathPrefix('/shop.Cart/AddItem', 'grpc', 1), '/shop.Cart/AddItem');
    assert.equal(pathPrefix(`/${'x'.repeat(1000)}`, 'http', 2).length, 256);
  });

  it('normalises methods, collapsing unknown ones', () => {
    assert.equal(normaliseMethod('get', 'http'), 'GET');
    assert.equal(normaliseMethod('PROPFIND', 'http'), 'OTHER');
    assert.equal(normaliseMethod(undefined, 'grpc'), 'POST');
    assert.equal(normaliseMethod('GET', 'tcp'), '');
  });
});
