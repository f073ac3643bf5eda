import type { ServiceClientConstructor, ServiceDefinition } from '@grpc/grpc-js';
import { makeClientConstructor } from '@grpc/grpc-js';
import { EnvoyProtoError } from './errors.ts';
import { loadEnvoyProtos } from './protos.ts';

export const ACCESS_LOG_SERVICE = 'envoy.service.accesslog.v3.AccessLogService';

export type AccessLogService = {
  /** For `server.addService`. */
  readonly service: ServiceDefinition;
  /** A client generated from Envoy's protos: what tests and benchmarks stream entries with. */
  readonly Client: ServiceClientConstructor;
};

let accessLog: AccessLogService | undefined;

/** Envoy's Access Log Service (ALS) definition, loaded on first use and shared afterwards. */
export function loadAccessLogService(): AccessLogService {
  if (accessLog) return accessLog;
  // Without defaults: an access-log entry has some sixty fields, Envoy sets a handful, and filling
  // in the rest for every entry was a large share of ingest's time. Absent fields are undefined.
  const definition = loadEnvoyProtos(['envoy/service/accesslog/v3/als.proto'], { defaults: false });
  const service = definition[ACCESS_LOG_SERVICE];
  if (!service || 'format' in service)
    throw new EnvoyProtoError('unknown_service', `${ACCESS_LOG_SERVICE} is not in the loaded protos`);
  const serviceDefinition = service as ServiceDefinition;
  accessLog = {
    service: serviceDefinition,
    Client: makeClientConstructor(serviceDefinition, 'AccessLogService'),
  };
  return accessLog;
}
