/**
 * The xDS resources for an Envoy sidecar, in Istio's layout so that an operator who knows one
 * reads the other:
 * - `virtualInbound` on 15006 (traffic redirected there by iptables), one filter chain per port of
 *   the node's own workload: mTLS with the agent's SDS secrets (`default`, `ROOTCA`), client
 *   certificates required and limited to the trust domain, then RBAC deny, RBAC allow (translated
 *   with `inexpressible: 'defer'`), ext_authz (the enforcer's whole decision order, including what
 *   RBAC cannot express) and the router, to the application on 127.0.0.1;
 * - `virtualOutbound` on 15001 and one listener per destination port (`0.0.0.0_<port>`, not bound:
 *   reached through the original destination), routing each mesh host name to its cluster, whose
 *   `UpstreamTlsContext` accepts only the destination's SPIFFE ID; any other destination goes to
 *   `BlackHoleCluster` (Istio's REGISTRY_ONLY), so nothing leaves the sidecar unauthenticated;
 * - clusters and endpoints for every destination, the application's inbound clusters, and the
 *   enforcer's ext_authz cluster.
 * Pure: workloads and RBAC in, packed resources out. The bootstrap (`envoyBootstrap`) holds what
 * must exist before the first ADS response: the ADS and SDS clusters.
 */
import type { PackageDefinition } from '@grpc/proto-loader';
import type { Any } from './any.ts';
import { packAny } from './any.ts';
import { loadEnvoyProtos } from './protos.ts';
import type { RbacFilters } from './rbac.ts';
import type { MeshWorkload, Resources } from './xds-resources.ts';
import { clusterName, loadAssignment, ResourceType } from './xds-resources.ts';

const FILES = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
] as const;

export const loadEnvoyConfigProtos = (): PackageDefinition => loadEnvoyProtos(FILES);

export const EnvoyType = {
  bootstrap: 'envoy.config.bootstrap.v3.Bootstrap',
  hcm: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  tcpProxy: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  rbac: 'envoy.extensions.filters.http.rbac.v3.RBAC',
  extAuthz: 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
  router: 'envoy.extensions.filters.http.router.v3.Router',
  originalDst: 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
  tlsInspector: 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  downstreamTls: 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  upstreamTls: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  httpProtocolOptions: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
} as const;

/** Istio's ports: where iptables sends inbound and outbound traffic. */
export const ENVOY_INBOUND_PORT = 15006;
export const ENVOY_OUTBOUND_PORT = 15001;
export const EXT_AUTHZ_CLUSTER = 'warden-ext-authz';
export const BLACK_HOLE_CLUSTER = 'BlackHoleCluster';
export const XDS_CLUSTER = 'warden-xds';
/** Istio's SDS cluster and secret names, which the agent serves on its Unix socket. */
export const SDS_CLUSTER = 'sds-grpc';
export const SdsSecret = { certificate: 'default', roots: 'ROOTCA' } as const;

export type EnvoyOptions = {
  trustDomain: string;
  /** The enforcer's ext_authz listener. */
  extAuthz: { address: string; port: number };
  /** ext_authz's deadline: past it the request is denied (`failure_mode_allow` is false). */
  extAuthzTimeoutMs: number;
  /** Body bytes sent to ext_authz for `parsed_body`; a longer body is sent truncated. */
  maxRequestBytes: number;
};

/**
 * An Envoy node id in Istio's form, `sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`:
 * the address and namespace that name the node's workload in the registry. Anything else is null.
 */
export function parseEnvoyNodeId(id: string): { address: string; namespace: string } | null {
  const parts = id.split('~');
  if (parts.length !== 4 || parts[0] !== 'sidecar') return null;
  const [, address, , domain] = parts;
  const namespace = domain?.split('.')[0];
  if (!address || !namespace) return null;
  return { address, namespace };
}

const duration = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });

const sdsSecret = (name: string) => ({
  name,
  sds_config: {
    api_config_source: {
      api_type: 'GRPC',
      transport_api_version: 'V3',
      grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }],
    },
    resource_api_version: 'V3',
  },
});

/** The agent's certificate, its roots, and which peer SAN is acceptable. */
const tlsContext = (san: { prefix: string } | { exact: string }) => ({
  tls_certificate_sds_secret_configs: [sdsSecret(SdsSecret.certificate)],
  combined_validation_context: {
    default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: san }] },
    validation_context_sds_secret_config: sdsSecret(SdsSecret.roots),
  },
  alpn_protocols: ['h2', 'http/1.1'],
});

const typed = (protos: PackageDefinition, name: string, type: string, message: object) => ({
  name,
  typed_config: packAny(protos, type, message),
});

const inboundCluster = (w: MeshWorkload): string => `inbound|${w.port}||${w.name}.${w.namespace}`;

function inboundChain(protos: PackageDefinition, w: MeshWorkload, rbac: RbacFilters, o: EnvoyOptions) {
  const httpFilters = [];
  if (rbac.deny) httpFilters.push(typed(protos, 'warden.rbac.deny', EnvoyType.rbac, { rules: rbac.deny }));
  if (rbac.allow) httpFilters.push(typed(protos, 'warden.rbac.allow', EnvoyType.rbac, { rules: rbac.allow }));
  httpFilters.push(
    typed(protos, 'envoy.filters.http.ext_authz', EnvoyType.extAuthz, {
      grpc_service: {
        envoy_grpc: { cluster_name: EXT_AUTHZ_CLUSTER },
        timeout: duration(o.extAuthzTimeoutMs),
      },
      transport_api_version: 'V3',
      failure_mode_allow: false,
      status_on_error: { code: 'Forbidden' },
      with_request_body: { max_request_bytes: o.maxRequestBytes, allow_partial_message: true },
      include_peer_certificate: true,
    }),
    typed(protos, 'envoy.filters.http.router', EnvoyType.router, {}),
  );
  const hcm = {
    stat_prefix: `inbound_${w.port}`,
    codec_type: 'AUTO',
    route_config: {
      name: inboundCluster(w),
      virtual_hosts: [
        {
          name: 'inbound',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, route: { cluster: inboundCluster(w), timeout: duration(0) } }],
        },
      ],
    },
    http_filters: httpFilters,
    // The application learns the caller's verified SPIFFE ID, and no caller can set it.
    forward_client_cert_details: 'SANITIZE_SET',
    set_current_client_cert_details: { uri: true },
  };
  return {
    name: `inbound|${w.port}`,
    filter_chain_match: { destination_port: { value: w.port }, transport_protocol: 'tls' },
    filters: [typed(protos, 'envoy.filters.network.http_connection_manager', EnvoyType.hcm, hcm)],
    transport_socket: typed(protos, 'envoy.transport_sockets.tls', EnvoyType.downstreamTls, {
      require_client_certificate: { value: true },
      common_tls_context: tlsContext({ prefix: `spiffe://${o.trustDomain}/` }),
    }),
  };
}

function outboundListener(protos: PackageDefinition, port: number, destinations: readonly MeshWorkload[]) {
  const hosts = (w: MeshWorkload): string[] =>
    [`${w.name}.${w.namespace}`, `${w.name}.${w.namespace}.svc.cluster.local`].flatMap((h) => [
      h,
      `${h}:${port}`,
    ]);
  const hcm = {
    stat_prefix: `outbound_0.0.0.0_${port}`,
    codec_type: 'AUTO',
    route_config: {
      name: String(port),
      virtual_hosts: [
        ...destinations.map((w) => ({
          name: `${w.name}.${w.namespace}:${port}`,
          domains: hosts(w),
          routes: [{ match: { prefix: '/' }, route: { cluster: clusterName(w) } }],
        })),
      ],
    },
    http_filters: [typed(protos, 'envoy.filters.http.router', EnvoyType.router, {})],
  };
  return {
    name: `0.0.0.0_${port}`,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    bind_to_port: { value: false },
    traffic_direction: 'OUTBOUND',
    filter_chains: [
      { filters: [typed(protos, 'envoy.filters.network.http_connection_manager', EnvoyType.hcm, hcm)] },
    ],
  };
}

const blackHole = (protos: PackageDefinition, statPrefix: string) => ({
  filters: [
    typed(protos, 'envoy.filters.network.tcp_proxy', EnvoyType.tcpProxy, {
      stat_prefix: statPrefix,
      cluster: BLACK_HOLE_CLUSTER,
    }),
  ],
});

function staticCluster(name: string, address: string, port: number, http2: Any | null) {
  return {
    name,
    type: 'STATIC',
    connect_timeout: duration(1000),
    load_assignment: {
      cluster_name: name,
      endpoints: [
        { lb_endpoints: [{ endpoint: { address: { socket_address: { address, port_value: port } } } }] },
      ],
    },
    ...(http2 ? { typed_extension_protocol_options: { [EnvoyType.httpProtocolOptions]: http2 } } : {}),
  };
}

const http2Only = (protos: PackageDefinition): Any =>
  packAny(protos, EnvoyType.httpProtocolOptions, { explicit_http_config: { http2_protocol_options: {} } });

/**
 * Everything one Envoy sidecar needs: `self` are the registry entries of the node's own workload
 * (one per port), `workloads` the whole mesh, `rbacFor` the workload's filters translated with
 * `inexpressible: 'defer'` (ext_authz decides what RBAC cannot).
 */
export function envoyResources(
  self: readonly MeshWorkload[],
  workloads: readonly MeshWorkload[],
  rbacFor: (w: MeshWorkload) => RbacFilters,
  options: EnvoyOptions,
): Resources {
  const protos = loadEnvoyConfigProtos();
  const listeners = new Map<string, Any>();
  const clusters = new Map<string, Any>();
  const endpoints = new Map<string, Any>();
  const pack = (type: string, message: object): Any => packAny(protos, type, message);

  const chains = [...new Map(self.map((w) => [w.port, w])).values()]
    .sort((a, b) => a.port - b.port)
    .map((w) => inboundChain(protos, w, rbacFor(w), options));
  listeners.set(
    'virtualInbound',
    pack(ResourceType.listener, {
      name: 'virtualInbound',
      address: { socket_address: { address: '0.0.0.0', port_value: ENVOY_INBOUND_PORT } },
      traffic_direction: 'INBOUND',
      listener_filters: [
        typed(protos, 'envoy.filters.listener.original_dst', EnvoyType.originalDst, {}),
        typed(protos, 'envoy.filters.listener.tls_inspector', EnvoyType.tlsInspector, {}),
      ],
      filter_chains: chains,
      // Plain text, another port, a client without a certificate: refused, never passed through.
      default_filter_chain: blackHole(protos, 'InboundBlackHole'),
    }),
  );
  for (const w of self)
    clusters.set(
      inboundCluster(w),
      pack(ResourceType.cluster, staticCluster(inboundCluster(w), '127.0.0.1', w.port, null)),
    );

  const own = new Set(self.map((w) => clusterName(w)));
  const byCluster = new Map<string, MeshWorkload[]>();
  for (const w of workloads) {
    if (own.has(clusterName(w))) continue;
    byCluster.set(clusterName(w), [...(byCluster.get(clusterName(w)) ?? []), w]);
  }
  const byPort = new Map<number, MeshWorkload[]>();
  for (const [name, replicas] of byCluster) {
    const first = replicas[0];
    if (!first) continue;
    byPort.set(first.port, [...(byPort.get(first.port) ?? []), first]);
    clusters.set(
      name,
      pack(ResourceType.cluster, {
        name,
        type: 'EDS',
        connect_timeout: duration(1000),
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
        lb_policy: 'ROUND_ROBIN',
        transport_socket: typed(protos, 'envoy.transport_sockets.tls', EnvoyType.upstreamTls, {
          // Only the destination's own identity, as for proxyless gRPC.
          common_tls_context: tlsContext({ exact: first.spiffeId }),
          sni: `${first.name}.${first.namespace}`,
        }),
        typed_extension_protocol_options: {
          [EnvoyType.httpProtocolOptions]: pack(EnvoyType.httpProtocolOptions, { auto_config: {} }),
        },
      }),
    );
    endpoints.set(name, pack(ResourceType.clusterLoadAssignment, loadAssignment(replicas)));
  }
  for (const [port, destinations] of [...byPort].sort(([a], [b]) => a - b))
    listeners.set(
      `0.0.0.0_${port}`,
      pack(ResourceType.listener, outboundListener(protos, port, destinations)),
    );
  listeners.set(
    'virtualOutbound',
    pack(ResourceType.listener, {
      name: 'virtualOutbound',
      address: { socket_address: { address: '0.0.0.0', port_value: ENVOY_OUTBOUND_PORT } },
      use_original_dst: { value: true },
      traffic_direction: 'OUTBOUND',
      default_filter_chain: blackHole(protos, BLACK_HOLE_CLUSTER),
    }),
  );

  clusters.set(
    EXT_AUTHZ_CLUSTER,
    pack(
      ResourceType.cluster,
      staticCluster(EXT_AUTHZ_CLUSTER, options.extAuthz.address, options.extAuthz.port, http2Only(protos)),
    ),
  );
  clusters.set(
    BLACK_HOLE_CLUSTER,
    pack(ResourceType.cluster, { name: BLACK_HOLE_CLUSTER, type: 'STATIC', connect_timeout: duration(1000) }),
  );
  return new Map([
    [ResourceType.listener, listeners],
    [ResourceType.routeConfiguration, new Map()],
    [ResourceType.cluster, clusters],
    [ResourceType.clusterLoadAssignment, endpoints],
  ]);
}

export type EnvoyBootstrapOptions = {
  /** Istio's form, `sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local` (`parseEnvoyNodeId`). */
  nodeId: string;
  namespace: string;
  ads: { address: string; port: number };
  /** The agent's SDS socket. */
  sdsSocket: string;
  adminPort: number;
};

/**
 * An Envoy bootstrap for a sidecar: its node, listeners and clusters over ADS, and the two
 * clusters that must exist before the first response: the enforcer's ADS and the agent's SDS.
 * Returned as the JSON object Envoy reads (`-c bootstrap.json`).
 */
export function envoyBootstrap(o: EnvoyBootstrapOptions): object {
  return {
    node: { id: o.nodeId, cluster: o.namespace, locality: { region: 'warden', zone: o.namespace } },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
      },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        bootstrapCluster(XDS_CLUSTER, { socket_address: { address: o.ads.address, port_value: o.ads.port } }),
        bootstrapCluster(SDS_CLUSTER, { pipe: { path: o.sdsSocket } }),
      ],
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: o.adminPort } } },
  };
}

function bootstrapCluster(name: string, address: object) {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] },
    typed_extension_protocol_options: {
      [EnvoyType.httpProtocolOptions]: {
        '@type': `type.googleapis.com/${EnvoyType.httpProtocolOptions}`,
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
}
