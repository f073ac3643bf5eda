import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StaticFileError } from '../errors.ts';
import { parseStaticFile, selects } from './static-file.ts';

const good = `
namespaces:
  - name: shop
    labels: { team: payments }
services:
  - namespace: shop
    name: cart
    ports: [{ name: http, port: 8080, protocol: http }]
    selector: { app: cart }
workloads:
  - namespace: shop
    name: cart-1
    address: 10.0.0.1
    port: 8080
    protocol: http
    serviceAccount: cart
    labels: { app: cart }
  - namespace: data
    name: db
    address: 10.0.1.1
    port: 5432
`;

function issuesOf(text: string): StaticFileError['issues'] {
  try {
    parseStaticFile(text, 'topology.yaml', 'cluster.local');
  } catch (err) {
    assert.ok(err instanceof StaticFileError, String(err));
    assert.equal(err.code, 'invalid_static_file');
    return err.issues;
  }
  assert.fail('expected a StaticFileError');
}

describe('static topology file', () => {
  it('parses workloads, services and namespaces, deriving SPIFFE IDs and service membership', () => {
    const snapshot = parseStaticFile(good, 'topology.yaml', 'example.org');
    assert.deepEqual(snapshot.workloads.get('shop/cart-1'), {
      namespace: 'shop',
      name: 'cart-1',
      address: '10.0.0.1',
      port: 8080,
      protocol: 'http',
      labels: { app: 'cart' },
      serviceAccount: 'cart',
      spiffeId: 'spiffe://example.org/ns/shop/sa/cart',
      services: ['cart'],
    });
    const db = snapshot.workloads.get('data/db');
    assert.equal(db?.protocol, 'tcp');
    assert.equal(db?.spiffeId, 'spiffe://example.org/ns/data/sa/default');
    assert.deepEqual(snapshot.namespaces.get('shop'), {
      name: 'shop',
      labels: { team: 'payments' },
      serviceAccounts: ['cart'],
    });
    assert.ok(snapshot.namespaces.has('data'), 'a namespace is implied by its workloads');
  });

  it('accepts an empty file as an empty topology', () => {
    assert.equal(parseStaticFile('', 'empty.yaml', 'cluster.local').workloads.size, 0);
  });

  it('reports YAML syntax errors with line and column', () => {
    const [issue] = issuesOf('workloads:\n  - name: [unclosed\n');
    assert.equal(issue?.line, 3);
    assert.ok(issue?.column);
  });

  it('reports every schema problem at the position of the offending value', () => {
    const issues = issuesOf(
      [
        'workloads:',
        '  - namespace: shop',
        '    name: cart',
        '    address: 10.0.0.1',
        '    port: 70000',
        '    protocol: smtp',
        '  - namespace: Not_A_Label',
        '    name: web',
        '    port: 80',
        'extra: 1',
      ].join('\n'),
    );
    const at = (path: string) => issues.find((i) => i.path === path);
    assert.deepEqual([at('workloads.0.port')?.line, at('workloads.0.port')?.column], [5, 11]);
    assert.equal(at('workloads.0.protocol')?.line, 6);
    assert.equal(at('workloads.1.namespace')?.line, 7);
    // A missing field points at the entry it is missing from.
    assert.deepEqual([at('workloads.1.address')?.line, at('workloads.1.address')?.column], [7, 5]);
    assert.ok(
      issues.some((i) => /extra/.test(i.message)),
      JSON.stringify(issues),
    );
  });

  it('reports duplicate workloads and unknown services by position', () => {
    const issues = issuesOf(
      [
        'workloads:',
        '  - { namespace: shop, name: cart, address: 10.0.0.1, port: 80 }',
        '  - { namespace: shop, name: cart, address: 10.0.0.2, port: 80, services: [nope] }',
      ].join('\n'),
    );
    assert.deepEqual(
      issues.map((i) => [i.message, i.line]),
      [
        ['duplicate workload shop/cart', 3],
        ['unknown service shop/nope', 3],
      ],
    );
  });

  it('bounds YAML alias expansion', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]'];
    for (let i = 0; i < 6; i++)
      bomb.push(
        `${'cdefgh'[i]}: &${'cdefgh'[i]} [${Array(10)
          .fill(`*${i === 0 ? 'b' : 'cdefgh'[i - 1]}`)
          .join(', ')}]`,
      );
    const issues = issuesOf(bomb.join('\n'));
    assert.match(issues[0]?.message ?? '', /alias/i);
  });

  it('matches selectors like a Kubernetes Service: all labels, and never when empty', () => {
    assert.ok(selects({ app: 'cart' }, { app: 'cart', v: '1' }));
    assert.ok(!selects({ app: 'cart', v: '2' }, { app: 'cart', v: '1' }));
    assert.ok(!selects({}, { app: 'cart' }));
  });
});
