import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Reporter } from './reporter.ts';
import { bindToReporter, refusalOf, ReporterBinding, reporterOfCertificate, speaksFor } from './reporter.ts';

const cart: Reporter = {
  principal: 'spiffe://cluster.local/ns/shop/sa/cart',
  namespace: 'shop',
  serviceAccount: 'cart',
};

describe('reporterOfCertificate', () => {
  it('reads the one SPIFFE URI SAN of an SVID in the trust domain', () => {
    assert.deepEqual(
      reporterOfCertificate('URI:spiffe://cluster.local/ns/shop/sa/cart', 'cluster.local'),
      cart,
    );
    assert.deepEqual(
      reporterOfCertificate('DNS:cart.shop.svc, URI:spiffe://cluster.local/ns/shop/sa/cart', 'cluster.local'),
      cart,
    );
  });

  it('names what is wrong with any other certificate', () => {
    assert.match(String(reporterOfCertificate(undefined, 'cluster.local')), /no subject alternative name/);
    assert.match(String(reporterOfCertificate('DNS:cart.shop.svc', 'cluster.local')), /0 URI SANs/);
    assert.match(
      String(
        reporterOfCertificate(
          'URI:spiffe://cluster.local/ns/shop/sa/cart, URI:spiffe://cluster.local/ns/shop/sa/web',
          'cluster.local',
        ),
      ),
      /2 URI SANs/,
    );
    assert.match(
      String(reporterOfCertificate('URI:spiffe://cluster.local/workload/cart', 'cluster.local')),
      /not a SPIFFE ID of the shape/,
    );
    assert.match(
      String(reporterOfCertificate('URI:spiffe://other.example/ns/shop/sa/cart', 'cluster.local')),
      /not of this trust domain \(cluster\.local\)/,
    );
  });
});

describe('bindToReporter', () => {
  const call = (source: object, destination: object): { source: object; destination: object } => ({
    source,
    destination,
  });
  const web = {
    namespace: 'web',
    workload: 'frontend',
    principal: 'spiffe://cluster.local/ns/web/sa/frontend',
  };

  it('keeps what the reporter received or made, in either direction', () => {
    const inbound = call(web, { namespace: 'shop', workload: 'cart' });
    const outbound = call({ namespace: 'shop', workload: 'cart', principal: cart.principal }, web);
    const { kept, refused } = bindToReporter([inbound, outbound], cart, ReporterBinding.serviceAccount);
    assert.deepEqual(kept, [inbound, outbound]);
    assert.equal(refused, 0);
  });

  it('refuses calls of another workload, another namespace, or under another principal', () => {
    const sibling = call(web, { namespace: 'shop', workload: 'payments' });
    const elsewhere = call({ namespace: 'shop', workload: 'cart' }, { namespace: 'pay', workload: 'cart' });
    const framed = call({ namespace: 'pay', workload: 'ledger' }, web);
    const disguised = call(web, {
      namespace: 'shop',
      workload: 'cart',
      principal: 'spiffe://cluster.local/ns/shop/sa/payments',
    });
    const strict = bindToReporter(
      [sibling, elsewhere, framed, disguised],
      cart,
      ReporterBinding.serviceAccount,
    );
    // `elsewhere` is kept: its caller is cart itself, which may report where it called.
    assert.deepEqual(strict.kept, [elsewhere]);
    assert.equal(strict.refused, 3);
    // By namespace, a sibling workload's calls are the namespace's to report; the rest are not.
    const loose = bindToReporter([sibling, elsewhere, framed, disguised], cart, ReporterBinding.namespace);
    assert.deepEqual(loose.kept, [sibling, elsewhere]);
  });

  it('refuses a side that names no namespace', () => {
    assert.equal(speaksFor(cart, ReporterBinding.namespace, { workload: 'cart' }), false);
  });

  it('says what the reporter may send', () => {
    assert.match(
      refusalOf(cart, ReporterBinding.serviceAccount),
      /only calls its own workload \(shop\/cart\)/,
    );
    assert.match(refusalOf(cart, ReporterBinding.namespace), /workloads in its namespace \(shop\)/);
  });
});
