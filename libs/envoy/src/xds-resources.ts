/**
 * The xDS resources the enforcer's ADS serves for one mesh, in the shape both Envoy and
 * `@grpc/grpc-js-xds` accept (gRFC A27 client side, A36 server side, A29 mTLS, A41 RBAC):
 * - per workload, a server Listener on its `address:port` (named as the gRPC server asks for it,
 *   see `serverListenerName`) with mTLS from the file-watcher certificate provider (the agent's
 *   files), client certificates required, the RBAC filters, a non-forwarding route and the router;
 * - per workload name, a client Listener (`xds:///<name>.<namespace>:<port>`) routing to a Cluster
 *   whose `UpstreamTlsContext` accepts only the destination's SPIFFE ID, and its endpoints.
 * Pure: workloads and RBAC in, packed resources out.
 */
import type { PackageDefinition } from '@grpc/proto-loader';
import type { Any } from './any.ts';
import { packAny, typeUrlOf } from './any.ts';
import type { EnvoyService } from './protos.ts';
import { envoyService, loadEnvoyProtos } from './protos.ts';
import type { Rbac, RbacFilters } from './rbac.ts';

const XDS_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
] as const;

export const loadXdsProtos = (): PackageDefinition => loadEnvoyProtos(XDS_FILES);

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

let ads: EnvoyService | undefined;

/** The ADS service definition and client, loaded on first use and shared afterwards. */
export function loadAds(): EnvoyService {
  ads ??= envoyService(loadXdsProtos(), ADS_SERVICE);
  return ads;
}

export const ResourceType = {
  listener: 'envoy.config.listener.v3.Listener',
  routeConfiguration: 'envoy.config.route.v3.RouteConfiguration',
  cluster: 'envoy.config.cluster.v3.Cluster',
  clusterLoadAssignment: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
} as const;
export type ResourceType = (typeof ResourceType)[keyof typeof ResourceType];

export const TypeUrl = {
  listener: typeUrlOf(ResourceType.listener),
  routeConfiguration: typeUrlOf(ResourceType.routeConfiguration),
  cluster: typeUrlOf(ResourceType.cluster),
  clusterLoadAssignment: typeUrlOf(ResourceType.clusterLoadAssignment),
} as const;

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const RBAC_FILTER = 'envoy.extensions.filters.http.rbac.v3.RBAC';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';
const DOWNSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** The certificate provider instance every resource names; the bootstrap defines it. */
export const CERTIFICATE_PROVIDER = 'warden';

/** What a gRPC server asks for (its bootstrap's `server_listener_resource_name_template`). */
export const SERVER_LISTENER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';
export const serverListenerName = (address: string, port: number): string =>
  SERVER_LISTENER_TEMPLATE.replace(
    '%s',
    address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`,
  );

export type MeshWorkload = {
  namespace: string;
  name: string;
  address: string;
  port: number;
  spiffeId: string;
};

/** The target a client dials: `xds:///payment-service.payments:8443`. */
export const clientListenerName = (w: Pick<MeshWorkload, 'namespace' | 'name' | 'port'>): string =>
  `${w.name}.${w.namespace}:${w.port}`;
/** Istio's outbound cluster name; also the endpoints' name. */
export const clusterName = (w: Pick<MeshWorkload, 'namespace' | 'name' | 'port'>): string =>
  `outbound|${w.port}||${w.name}.${w.namespace}`;

export type Resources = Map<ResourceType, Map<string, Any>>;

const tlsSocket = (protos: PackageDefinition, type: string, context: object) => ({
  name: 'envoy.transport_sockets.tls',
  typed_config: packAny(protos, type, context),
});

const providerInstance = { instance_name: CERTIFICATE_PROVIDER };

function rbacFilter(protos: PackageDefinition, name: string, rbac: Rbac) {
  return { name, typed_config: packAny(protos, RBAC_FILTER, { rules: rbac }) };
}

function httpConnectionManager(
  protos: PackageDefinition,
  routeConfig: object,
  filters: RbacFilters | null,
): Any {
  const httpFilters = [];
  if (filters?.deny) httpFilters.push(rbacFilter(protos, 'warden.rbac.deny', filters.deny));
  if (filters?.allow) httpFilters.push(rbacFilter(protos, 'warden.rbac.allow', filters.allow));
  httpFilters.push({ name: 'envoy.filters.http.router', typed_config: packAny(protos, ROUTER, {}) });
  return packAny(protos, HCM, {
    stat_prefix: 'warden',
    route_config: routeConfig,
    http_filters: httpFilters,
  });
}

/** The inbound side of one workload: mTLS required, RBAC, then a route that forwards nowhere. */
export function serverListener(
  protos: PackageDefinition,
  w: MeshWorkload,
  filters: RbacFilters,
  trustDomain: string,
): object {
  const routeConfig = {
    name: `inbound|${w.port}||${w.name}.${w.namespace}`,
    virtual_hosts: [
      { name: 'inbound', domains: ['*'], routes: [{ match: { prefix: '' }, non_forwarding_action: {} }] },
    ],
  };
  return {
    name: serverListenerName(w.address, w.port),
    address: { socket_address: { address: w.address, port_value: w.port } },
    filter_chains: [
      {
        name: 'warden-mtls',
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: httpConnectionManager(protos, routeConfig, filters),
          },
        ],
        transport_socket: tlsSocket(protos, DOWNSTREAM_TLS, {
          require_client_certificate: { value: true },
          common_tls_context: {
            tls_certificate_provider_instance: providerInstance,
            validation_context: {
              ca_certificate_provider_instance: providerInstance,
              // Envoy refuses peers outside the trust domain here; gRPC leaves it to RBAC.
              match_subject_alt_names: [{ prefix: `spiffe://${trustDomain}/` }],
            },
          },
        }),
      },
    ],
  };
}

/** The outbound side: a client listener routing to the cluster of one workload name. */
export function clientListener(protos: PackageDefinition, w: MeshWorkload): object {
  const routeConfig = {
    name: `outbound|${w.port}||${w.name}.${w.namespace}`,
    virtual_hosts: [
      {
        name: w.name,
        domains: ['*'],
        routes: [{ match: { prefix: '' }, route: { cluster: clusterName(w) } }],
      },
    ],
  };
  return {
    name: clientListenerName(w),
    api_listener: { api_listener: httpConnectionManager(protos, routeConfig, null) },
  };
}

export function cluster(protos: PackageDefinition, w: MeshWorkload): object {
  return {
    name: clusterName(w),
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} }, service_name: clusterName(w) },
    lb_policy: 'ROUND_ROBIN',
    transport_socket: tlsSocket(protos, UPSTREAM_TLS, {
      common_tls_context: {
        tls_certificate_provider_instance: providerInstance,
        validation_context: {
          ca_certificate_provider_instance: providerInstance,
          // Only the destination's own identity: a stolen certificate of another workload, or a
          // workload listening on a reused address, is not the service the client meant to call.
          match_subject_alt_names: [{ exact: w.spiffeId }],
        },
      },
    }),
  };
}

export function loadAssignment(replicas: readonly MeshWorkload[]): object {
  const first = replicas[0];
  if (!first) throw new Error('a load assignment needs at least one endpoint');
  return {
    cluster_name: clusterName(first),
    endpoints: [
      {
        locality: { region: 'warden', zone: first.namespace },
        load_balancing_weight: { value: 1 },
        lb_endpoints: replicas.map((r) => ({
          endpoint: { address: { socket_address: { address: r.address, port_value: r.port } } },
          load_balancing_weight: { value: 1 },
        })),
      },
    ],
  };
}

/**
 * Every resource for a mesh: listeners (server and client), clusters and endpoints, keyed by type
 * and name. Workloads sharing a namespace, name and port are replicas behind one cluster.
 */
export function meshResources(
  workloads: readonly MeshWorkload[],
  rbacFor: (w: MeshWorkload) => RbacFilters,
  trustDomain: string,
): Resources {
  const protos = loadXdsProtos();
  const listeners = new Map<string, Any>();
  const clusters = new Map<string, Any>();
  const endpoints = new Map<string, Any>();
  const byCluster = new Map<string, MeshWorkload[]>();
  for (const w of workloads) {
    listeners.set(
      serverListenerName(w.address, w.port),
      packAny(protos, ResourceType.listener, serverListener(protos, w, rbacFor(w), trustDomain)),
    );
    const replicas = byCluster.get(clusterName(w)) ?? [];
    replicas.push(w);
    byCluster.set(clusterName(w), replicas);
  }
  for (const [name, replicas] of byCluster) {
    const first = replicas[0];
    if (!first) continue;
    listeners.set(
      clientListenerName(first),
      packAny(protos, ResourceType.listener, clientListener(protos, first)),
    );
    clusters.set(name, packAny(protos, ResourceType.cluster, cluster(protos, first)));
    endpoints.set(name, packAny(protos, ResourceType.clusterLoadAssignment, loadAssignment(replicas)));
  }
  return new Map([
    [ResourceType.listener, listeners],
    [ResourceType.routeConfiguration, new Map()],
    [ResourceType.cluster, clusters],
    [ResourceType.clusterLoadAssignment, endpoints],
  ]);
}

export type GrpcBootstrapOptions = {
  /** The enforcer's ADS, `host:port`. */
  adsAddress: string;
  /** The workload's SPIFFE ID names it to the ADS server. */
  nodeId: string;
  namespace: string;
  /** The agent's files for this workload. */
  certificateFile: string;
  privateKeyFile: string;
  caCertificateFile: string;
  /** How often the file watcher re-reads rotated files; default 1 s. */
  refreshSeconds?: number;
};

/**
 * A `@grpc/grpc-js-xds` bootstrap (GRPC_XDS_BOOTSTRAP) for a workload: the ADS server, its node
 * with the locality the library requires, the file-watcher certificate provider over the agent's
 * files, and the server listener template the enforcer names its listeners by.
 */
export function grpcBootstrap(o: GrpcBootstrapOptions): object {
  return {
    xds_servers: [
      { server_uri: o.adsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
    ],
    node: { id: o.nodeId, cluster: o.namespace, locality: { region: 'warden', zone: o.namespace } },
    certificate_providers: {
      [CERTIFICATE_PROVIDER]: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: o.certificateFile,
          private_key_file: o.privateKeyFile,
          ca_certificate_file: o.caCertificateFile,
          refresh_interval: `${o.refreshSeconds ?? 1}s`,
        },
      },
    },
    server_listener_resource_name_template: SERVER_LISTENER_TEMPLATE,
  };
}
