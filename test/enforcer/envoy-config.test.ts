import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { Any, MeshWorkload, Resources } from '@warden/envoy';
import {
  envoyBootstrap,
  envoyResources,
  EnvoyType,
  loadEnvoyConfigProtos,
  meshResources,
  packAny,
  parseEnvoyNodeId,
  ResourceType,
  toRbacFilters,
  unpackAny,
} from '@warden/envoy';
import { binary } from '@warden/infra';
import { defaultMeshDefault, parseAuthorizationPolicies, PolicyRevision } from '@warden/policy-engine';

const td = 'warden.local';
const id = (ns: string, sa: string): string => `spiffe://${td}/ns/${ns}/sa/${sa}`;
const cart = (port: number): MeshWorkload => ({
  namespace: 'shop',
  name: 'cart',
  address: '10.0.0.5',
  port,
  spiffeId: id('shop', 'cart'),
});
const mesh: MeshWorkload[] = [
  cart(8080),
  cart(9090),
  {
    namespace: 'payments',
    name: 'payments',
    address: '10.0.1.1',
    port: 8443,
    spiffeId: id('payments', 'payments'),
  },
  {
    namespace: 'payments',
    name: 'payments',
    address: '10.0.1.2',
    port: 8443,
    spiffeId: id('payments', 'payments'),
  },
  {
    namespace: 'shop',
    name: 'inventory',
    address: '10.0.2.1',
    port: 8080,
    spiffeId: id('shop', 'inventory'),
  },
];

/** An ALLOW rule with a condition RBAC cannot express: Envoy keeps it for ext_authz to decide. */
const { policies, issues } = parseAuthorizationPolicies(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: frontend-by-issuer
  namespace: shop
spec:
  action: ALLOW
  rules:
    - from:
        - source:
            principals: ["${td}/ns/web/sa/frontend"]
      when:
        - key: request.auth.claims[iss]
          values: ["https://issuer.example"]
`);
assert.deepEqual(issues, []);

const options = {
  trustDomain: td,
  extAuthz: { address: '10.0.9.9', port: 9191 },
  extAuthzTimeoutMs: 500,
  maxRequestBytes: 8192,
};

const build = (): Resources =>
  envoyResources(
    mesh.filter((w) => w.name === 'cart'),
    mesh,
    (w) =>
      toRbacFilters(new PolicyRevision(policies).policiesFor(w.namespace, {}), {
        meshDefault: defaultMeshDefault,
        namespace: w.namespace,
        inexpressible: 'defer',
      }),
    options,
  );

type Named = { name: string; typed_config: Any };
type Listener = {
  name: string;
  filter_chains: { name: string; filters: Named[]; transport_socket: Named | null }[];
  default_filter_chain: { filters: Named[] } | null;
};

const protos = loadEnvoyConfigProtos();
const listener = (resources: Resources, name: string): Listener => {
  const any = resources.get(ResourceType.listener)?.get(name);
  assert.ok(any, `listener ${name}`);
  return unpackAny<Listener>(protos, ResourceType.listener, any);
};

describe('Envoy sidecar configuration', () => {
  it('names the workload from an Istio-style node id, and nothing else', () => {
    assert.deepEqual(parseEnvoyNodeId('sidecar~10.0.0.5~cart-7d9.shop~shop.svc.cluster.local'), {
      address: '10.0.0.5',
      namespace: 'shop',
    });
    for (const bad of ['', 'router~10.0.0.5~x.shop~shop.svc.cluster.local', 'sidecar~~x~shop', 'spiffe://x'])
      assert.equal(parseEnvoyNodeId(bad), null, bad);
  });

  it('puts mTLS, RBAC deny and allow, ext_authz (fail closed) and the router on every inbound port', () => {
    const resources = build();
    const inbound = listener(resources, 'virtualInbound');
    assert.deepEqual(
      inbound.filter_chains.map((c) => c.name),
      ['inbound|8080', 'inbound|9090'],
    );
    const chain = inbound.filter_chains[0];
    assert.ok(chain?.transport_socket);
    const tls = unpackAny<{
      require_client_certificate: { value: boolean };
      common_tls_context: { tls_certificate_sds_secret_configs: { name: string }[] };
    }>(protos, EnvoyType.downstreamTls, chain.transport_socket.typed_config);
    assert.equal(tls.require_client_certificate.value, true);
    assert.deepEqual(
      tls.common_tls_context.tls_certificate_sds_secret_configs.map((s) => s.name),
      ['default'],
    );
    const hcm = unpackAny<{ http_filters: Named[] }>(
      protos,
      EnvoyType.hcm,
      chain.filters[0]?.typed_config as Any,
    );
    assert.deepEqual(
      hcm.http_filters.map((f) => f.name),
      ['warden.rbac.allow', 'envoy.filters.http.ext_authz', 'envoy.filters.http.router'],
    );
    const extAuthz = unpackAny<{ failure_mode_allow: boolean; include_peer_certificate: boolean }>(
      protos,
      EnvoyType.extAuthz,
      hcm.http_filters[1]?.typed_config as Any,
    );
    assert.equal(extAuthz.failure_mode_allow, false);
    assert.equal(extAuthz.include_peer_certificate, true);
    assert.ok(inbound.default_filter_chain, 'anything else is refused');
  });

  it('routes only to other workloads, each accepting only its own SPIFFE ID', () => {
    const resources = build();
    const clusters = [...(resources.get(ResourceType.cluster)?.keys() ?? [])].sort();
    assert.deepEqual(clusters, [
      'BlackHoleCluster',
      'inbound|8080||cart.shop',
      'inbound|9090||cart.shop',
      'outbound|8080||inventory.shop',
      'outbound|8443||payments.payments',
      'warden-ext-authz',
    ]);
    assert.deepEqual([...(resources.get(ResourceType.listener)?.keys() ?? [])].sort(), [
      '0.0.0.0_8080',
      '0.0.0.0_8443',
      'virtualInbound',
      'virtualOutbound',
    ]);
    const payments = unpackAny<{ transport_socket: Named }>(
      protos,
      ResourceType.cluster,
      resources.get(ResourceType.cluster)?.get('outbound|8443||payments.payments') as Any,
    );
    const upstream = unpackAny<{
      common_tls_context: {
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: { matcher: { exact: string } }[] };
        };
      };
    }>(protos, EnvoyType.upstreamTls, payments.transport_socket.typed_config);
    assert.deepEqual(
      upstream.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names.map(
        (m) => m.matcher.exact,
      ),
      [id('payments', 'payments')],
    );
  });

  it('refuses to pack a field Envoy’s API does not have, instead of dropping it', () => {
    assert.throws(
      () =>
        packAny(protos, EnvoyType.downstreamTls, {
          require_client_certificat: { value: true },
        }),
      /has no field require_client_certificat/,
    );
    assert.throws(
      () => packAny(protos, EnvoyType.extAuthz, { grpc_service: { envoy_grpc: { cluster: 'x' } } }),
      /grpc_service\.envoy_grpc\.cluster/,
    );
  });

  it('passes Envoy’s own validation rules (go-control-plane), resources and bootstrap alike', () => {
    const proxyless = meshResources(
      mesh,
      (w) =>
        toRbacFilters(new PolicyRevision(policies).policiesFor(w.namespace, {}), {
          meshDefault: defaultMeshDefault,
          namespace: w.namespace,
          inexpressible: 'deny',
        }),
      td,
    );
    const payload = {
      resources: [...build().values(), ...proxyless.values()].flatMap((byName) =>
        [...byName].map(([name, any]) => ({
          name,
          type_url: any.type_url,
          value: Buffer.from(any.value).toString('base64'),
        })),
      ),
      bootstrap: envoyBootstrap({
        nodeId: 'sidecar~10.0.0.5~cart-7d9.shop~shop.svc.cluster.local',
        namespace: 'shop',
        ads: { address: '10.0.9.9', port: 15010 },
        sdsSocket: '/var/run/warden/sds.sock',
        adminPort: 15000,
      }),
    };
    const out = execFileSync(binary('xds-validate'), { input: JSON.stringify(payload), encoding: 'utf8' });
    assert.equal(out, '');

    // The checker can fail: a cluster without a name and with a negative timeout, an empty
    // stat prefix three Anys deep in a listener, a bootstrap field Envoy does not have.
    const deep = packAny(protos, ResourceType.listener, {
      name: 'deep',
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: packAny(protos, EnvoyType.hcm, { stat_prefix: '', http_filters: [] }),
            },
          ],
        },
      ],
    });
    const broken = {
      resources: [
        { name: 'deep', type_url: deep.type_url, value: Buffer.from(deep.value).toString('base64') },
        {
          name: 'bad',
          type_url: `type.googleapis.com/${ResourceType.cluster}`,
          value: Buffer.from(
            packAny(protos, ResourceType.cluster, { name: '', connect_timeout: { seconds: '-1', nanos: 0 } })
              .value,
          ).toString('base64'),
        },
      ],
      bootstrap: { node: { id: 'x' }, no_such_field: true },
    };
    const refused = spawnSync(binary('xds-validate'), { input: JSON.stringify(broken), encoding: 'utf8' });
    assert.equal(refused.status, 1);
    assert.match(refused.stdout, /bad: .*Name/);
    assert.match(refused.stdout, /deep\.filter_chains\[0\]\.filters\[0\]\.typed_config: .*StatPrefix/);
    assert.match(refused.stdout, /bootstrap: .*no_such_field/);
  });
});
