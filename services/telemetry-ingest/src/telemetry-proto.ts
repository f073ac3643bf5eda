import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceClientConstructor, ServiceDefinition } from '@grpc/grpc-js';
import { makeClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { loaderOptions } from '@warden/envoy';

export const TELEMETRY_SERVICE = 'warden.telemetry.v1.TelemetryService';

/** The repository's `proto/` folder, where Warden's own protos live. */
const protoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'proto');

let loaded: { service: ServiceDefinition; Client: ServiceClientConstructor } | undefined;

/** Warden's `StreamTelemetry` service, loaded with the same options as Envoy's protos. */
export function loadTelemetryService(): { service: ServiceDefinition; Client: ServiceClientConstructor } {
  if (loaded) return loaded;
  const definition = loadSync('warden/telemetry/v1/telemetry.proto', {
    ...loaderOptions,
    includeDirs: [protoRoot],
  });
  const service = definition[TELEMETRY_SERVICE] as ServiceDefinition;
  loaded = { service, Client: makeClientConstructor(service, 'TelemetryService') };
  return loaded;
}
