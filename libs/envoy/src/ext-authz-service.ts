import type { ServiceClientConstructor, ServiceDefinition } from '@grpc/grpc-js';
import { makeClientConstructor } from '@grpc/grpc-js';
import { EnvoyProtoError } from './errors.ts';
import { loadEnvoyProtos } from './protos.ts';

export const EXT_AUTHZ_SERVICE = 'envoy.service.auth.v3.Authorization';

export type ExtAuthz = {
  /** For `server.addService`. */
  readonly service: ServiceDefinition;
  /** A client generated from Envoy's protos: what the tests and benchmarks drive the server with. */
  readonly Client: ServiceClientConstructor;
};

let extAuthz: ExtAuthz | undefined;

/** The ext_authz service definition, loaded on first use and shared afterwards. */
export function loadExtAuthz(): ExtAuthz {
  if (extAuthz) return extAuthz;
  const definition = loadEnvoyProtos(['envoy/service/auth/v3/external_auth.proto']);
  const service = definition[EXT_AUTHZ_SERVICE];
  if (!service || 'format' in service)
    throw new EnvoyProtoError('unknown_service', `${EXT_AUTHZ_SERVICE} is not in the loaded protos`);
  const serviceDefinition = service as ServiceDefinition;
  extAuthz = {
    service: serviceDefinition,
    Client: makeClientConstructor(serviceDefinition, 'Authorization'),
  };
  return extAuthz;
}
