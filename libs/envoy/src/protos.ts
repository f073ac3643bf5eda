import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ServiceClientConstructor, ServiceDefinition } from '@grpc/grpc-js';
import { makeClientConstructor } from '@grpc/grpc-js';
import type { Options, PackageDefinition } from '@grpc/proto-loader';
import { loadSync } from '@grpc/proto-loader';
import { EnvoyProtoError } from './errors.ts';

/**
 * Envoy's protos ship inside @grpc/grpc-js-xds (its `deps/` folder), together with what they
 * import (xds/udpa annotations, googleapis, protoc-gen-validate). Loading from there keeps one
 * pinned copy of Envoy's API in the lockfile instead of a vendored one that drifts.
 */
export function protoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(root, dir));
}

/**
 * How messages look in JavaScript: field names exactly as in the .proto (snake_case, as in
 * Envoy's docs and JSON), 64-bit integers and enums as strings (no precision loss), defaults
 * filled in and the set oneof member named, so a reader never has to guess absent from zero.
 */
export const loaderOptions: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

const loaded = new Map<string, PackageDefinition>();

/**
 * Loads a set of Envoy proto files once per process (parsing Envoy's API takes tens of
 * milliseconds and a few MB, so it happens on first use, not at import). Each API
 * (SDS now; ADS, ext_authz, ALS later) asks for its own files and gets a cached definition.
 */
export function loadEnvoyProtos(files: readonly string[], overrides: Options = {}): PackageDefinition {
  const key = `${[...files].sort().join('\n')}\n${JSON.stringify(overrides)}`;
  const cached = loaded.get(key);
  if (cached) return cached;
  let definition: PackageDefinition;
  try {
    definition = loadSync([...files], { ...loaderOptions, ...overrides, includeDirs: protoIncludeDirs() });
  } catch (cause) {
    throw new EnvoyProtoError('proto_load_failed', `cannot load Envoy protos ${files.join(', ')}`, { cause });
  }
  loaded.set(key, definition);
  return definition;
}

/** One of Envoy's gRPC services: its definition for `server.addService`, and a generated client. */
export type EnvoyService = {
  readonly service: ServiceDefinition;
  /** A client generated from Envoy's protos: what the tests and benchmarks drive a server with. */
  readonly Client: ServiceClientConstructor;
};

/** The service `fullName` of loaded protos; a name they do not define is an error. */
export function envoyService(definition: PackageDefinition, fullName: string): EnvoyService {
  const service = definition[fullName];
  if (!service || 'format' in service)
    throw new EnvoyProtoError('unknown_service', `${fullName} is not in the loaded protos`);
  const serviceDefinition = service as ServiceDefinition;
  return {
    service: serviceDefinition,
    Client: makeClientConstructor(serviceDefinition, fullName.slice(fullName.lastIndexOf('.') + 1)),
  };
}
