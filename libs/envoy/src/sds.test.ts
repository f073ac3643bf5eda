import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EnvoyProtoError } from './errors.ts';
import { loadSds, SECRET_TYPE_URL } from './sds.ts';

describe('SDS protos', () => {
  it('loads the SecretDiscoveryService with its three methods, once', () => {
    const sds = loadSds();
    assert.deepEqual(Object.keys(sds.service).sort(), ['DeltaSecrets', 'FetchSecrets', 'StreamSecrets']);
    assert.equal(
      sds.service['StreamSecrets']?.path,
      '/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets',
    );
    assert.equal(sds.service['StreamSecrets']?.requestStream, true);
    assert.equal(sds.service['StreamSecrets']?.responseStream, true);
    assert.equal(loadSds(), sds, 'the second call reuses the loaded definition');
  });

  it('round-trips a TlsCertificate Secret through Any inside a DiscoveryResponse on the wire', () => {
    const sds = loadSds();
    const chain = Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const key = Buffer.from('-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n');
    const any = sds.packSecret({
      name: 'default',
      tls_certificate: { certificate_chain: { inline_bytes: chain }, private_key: { inline_bytes: key } },
    });
    assert.equal(any.type_url, SECRET_TYPE_URL);
    assert.ok(any.value.length > chain.length + key.length);

    const method = sds.service['StreamSecrets'];
    assert.ok(method);
    const wire = method.responseSerialize({
      version_info: '1',
      resources: [any],
      type_url: SECRET_TYPE_URL,
      nonce: 'n1',
    });
    const back = method.responseDeserialize(wire) as {
      version_info: string;
      resources: { type_url: string; value: Buffer }[];
    };
    assert.equal(back.version_info, '1');
    assert.equal(back.resources.length, 1);
    const [resource] = back.resources;
    assert.ok(resource);
    const secret = sds.unpackSecret(resource);
    assert.equal(secret.name, 'default');
    assert.equal(secret.type, 'tls_certificate');
    assert.deepEqual(secret.tls_certificate?.certificate_chain?.inline_bytes, chain);
    assert.deepEqual(secret.tls_certificate?.private_key?.inline_bytes, key);
  });

  it('round-trips a validation context Secret and refuses an Any of another type', () => {
    const sds = loadSds();
    const roots = Buffer.from('roots');
    const any = sds.packSecret({
      name: 'ROOTCA',
      validation_context: { trusted_ca: { inline_bytes: roots } },
    });
    const secret = sds.unpackSecret(any);
    assert.equal(secret.type, 'validation_context');
    assert.deepEqual(secret.validation_context?.trusted_ca?.inline_bytes, roots);
    assert.throws(
      () =>
        sds.unpackSecret({ type_url: 'type.googleapis.com/google.protobuf.Empty', value: Buffer.alloc(0) }),
      EnvoyProtoError,
    );
  });
});
