export type { Any } from './any.ts';
export { packAny, typeUrlOf, unpackAny } from './any.ts';
export { EnvoyProtoError } from './errors.ts';
export { loadEnvoyProtos, loaderOptions, protoIncludeDirs } from './protos.ts';
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
