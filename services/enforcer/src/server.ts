import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { CheckRequest, CheckResponse } from '@warden/envoy';
import { loadExtAuthz } from '@warden/envoy';
import type { Checker } from './check.ts';
import type { AdsHub } from './xds.ts';

export type GrpcServer = { readonly port: number; stop(): Promise<void> };

/** A plaintext gRPC server on a loopback or sidecar address, stopped gracefully then forcibly. */
async function startGrpcServer(
  add: (server: Server) => void,
  host: string,
  port: number,
): Promise<GrpcServer> {
  const server = new Server();
  add(server);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, actual) =>
      err ? reject(err) : resolve(actual),
    );
  });
  return {
    port: bound,
    stop: () =>
      new Promise<void>((resolve) => {
        // In-flight calls finish; a stuck client (or an ADS stream, which never ends by itself)
        // does not hold the stop for long.
        const force = setTimeout(() => server.forceShutdown(), 5000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/**
 * Envoy's `envoy.service.auth.v3.Authorization`: a shell around a `Checker`, which never throws.
 * Envoy calls it as a local sidecar service.
 */
export function startExtAuthzServer(handler: Checker, host: string, port: number): Promise<GrpcServer> {
  return startGrpcServer(
    (server) =>
      server.addService(loadExtAuthz().service, {
        Check: (
          call: ServerUnaryCall<CheckRequest, CheckResponse>,
          callback: sendUnaryData<CheckResponse>,
        ) => {
          callback(null, handler.check(call.request));
        },
      }),
    host,
    port,
  );
}

/** `envoy.service.discovery.v3.AggregatedDiscoveryService`, served from the hub's snapshot. */
export function startAdsServer(hub: AdsHub, host: string, port: number): Promise<GrpcServer> {
  return startGrpcServer((server) => server.addService(hub.service(), hub.handlers()), host, port);
}
