export type { Any } from './any.ts';
export { packAny, typeUrlOf, unpackAny } from './any.ts';
export { EnvoyProtoError } from './errors.ts';
export type { EnvoyService } from './protos.ts';
export { envoyService, loadEnvoyProtos, loaderOptions, protoIncludeDirs } from './protos.ts';
export type {
  CertificateValidationContext,
  DataSource,
  DecodedSecret,
  DiscoveryRequest,
  DiscoveryResponse,
  Sds,
  Secret,
  TlsCertificate,
} from './sds.ts';
export { loadSds, SDS_SERVICE, SECRET_TYPE, SECRET_TYPE_URL } from './sds.ts';
export type {
  CheckHttpRequest,
  CheckPeer,
  CheckRequest,
  CheckRequestOptions,
  CheckResponse,
  Translated,
} from './ext-authz.ts';
export { ContextKey, DENY_REASON_HEADER, GrpcCode, toAuthzRequest, toCheckResponse } from './ext-authz.ts';
export type { ExtAuthz } from './ext-authz-service.ts';
export { EXT_AUTHZ_SERVICE, loadExtAuthz } from './ext-authz-service.ts';
export type {
  CidrRange,
  HeaderMatcher,
  Inexpressible,
  Permission,
  Principal,
  Rbac,
  RbacFilters,
  RbacPolicy,
  StringMatcher,
} from './rbac.ts';
export { toRbacFilters } from './rbac.ts';
export type { AdsEvent, TypeState } from './ads.ts';
export type { AdsNode, ResourceSource } from './ads.ts';
export { AdsSession } from './ads.ts';
export type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaTypeState } from './ads-delta.ts';
export { DeltaAdsSession } from './ads-delta.ts';
export type { GrpcBootstrapOptions, MeshWorkload, Resources } from './xds-resources.ts';
export {
  ADS_SERVICE,
  CERTIFICATE_PROVIDER,
  clientListenerName,
  clusterName,
  grpcBootstrap,
  loadAds,
  loadXdsProtos,
  meshResources,
  ResourceType,
  SERVER_LISTENER_TEMPLATE,
  serverListenerName,
  TypeUrl,
} from './xds-resources.ts';
export type { AccessLogService } from './access-log-service.ts';
export { ACCESS_LOG_SERVICE, loadAccessLogService } from './access-log-service.ts';
export type { EnvoyBootstrapOptions, EnvoyOptions } from './envoy-resources.ts';
export {
  BLACK_HOLE_CLUSTER,
  ENVOY_INBOUND_PORT,
  ENVOY_OUTBOUND_PORT,
  envoyBootstrap,
  envoyResources,
  EnvoyType,
  EXT_AUTHZ_CLUSTER,
  loadEnvoyConfigProtos,
  parseEnvoyNodeId,
  SDS_CLUSTER,
  SdsSecret,
} from './envoy-resources.ts';
