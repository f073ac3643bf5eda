import type { PackageDefinition } from '@grpc/proto-loader';
import type { Any } from './any.ts';
import { packAny, typeUrlOf, unpackAny } from './any.ts';
import type { EnvoyService } from './protos.ts';
import { envoyService, loadEnvoyProtos } from './protos.ts';

/**
 * Envoy's Secret Discovery Service (`envoy.service.secret.v3.SecretDiscoveryService`). sds.proto
 * names its resource type only in an annotation, so secret.proto is loaded beside it: without it
 * `Secret` could not be packed into the responses' `Any`.
 */
const SDS_FILES = [
  'envoy/service/secret/v3/sds.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
] as const;

export const SDS_SERVICE = 'envoy.service.secret.v3.SecretDiscoveryService';
export const SECRET_TYPE = 'envoy.extensions.transport_sockets.tls.v3.Secret';
export const SECRET_TYPE_URL = typeUrlOf(SECRET_TYPE);

/** `envoy.config.core.v3.DataSource`: the agent sends PEM inline, as Istio's agent does. */
export type DataSource =
  { inline_bytes: Buffer | Uint8Array } | { inline_string: string } | { filename: string };

export type TlsCertificate = { certificate_chain: DataSource; private_key: DataSource };
export type CertificateValidationContext = { trusted_ca: DataSource };

/** The two kinds of secret the agent serves; the others (ticket keys, generic) it never sends. */
export type Secret =
  | { name: string; tls_certificate: TlsCertificate }
  | { name: string; validation_context: CertificateValidationContext };

/** The fields of `envoy.service.discovery.v3.DiscoveryRequest` the agent reads. */
export type DiscoveryRequest = {
  version_info?: string;
  node?: { id?: string; cluster?: string; user_agent_name?: string } | null;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
};

export type DiscoveryResponse = {
  version_info: string;
  resources: Any[];
  type_url: string;
  nonce: string;
};

/** A decoded Secret as proto-loader returns it: every field present, `type` naming the set one. */
export type DecodedSecret = {
  name: string;
  type?: string;
  tls_certificate?: {
    certificate_chain?: { inline_bytes?: Buffer };
    private_key?: { inline_bytes?: Buffer };
  };
  validation_context?: { trusted_ca?: { inline_bytes?: Buffer } };
};

export type Sds = EnvoyService & {
  readonly definition: PackageDefinition;
  packSecret(secret: Secret): Any;
  unpackSecret(any: Any): DecodedSecret;
};

let sds: Sds | undefined;

/** The SDS service definition and Secret packing, loaded on first use and shared afterwards. */
export function loadSds(): Sds {
  if (sds) return sds;
  const definition = loadEnvoyProtos(SDS_FILES);
  sds = {
    definition,
    ...envoyService(definition, SDS_SERVICE),
    packSecret: (secret) => packAny(definition, SECRET_TYPE, secret),
    unpackSecret: (any) => unpackAny<DecodedSecret>(definition, SECRET_TYPE, any),
  };
  return sds;
}
