import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { CheckRequest, CheckResponse } from '@warden/envoy';
import { loadExtAuthz } from '@warden/envoy';
import type { Checker } from './check.ts';

export type ExtAuthzServer = { readonly port: number; stop(): Promise<void> };

/**
 * Envoy's `envoy.service.auth.v3.Authorization` over gRPC: a shell around a `Checker`, which
 * never throws. Plaintext on the configured address: Envoy calls it as a local sidecar service.
 */
export async function startExtAuthzServer(
  handler: Checker,
  host: string,
  port: number,
): Promise<ExtAuthzServer> {
  const server = new Server();
  server.addService(loadExtAuthz().service, {
    Check: (call: ServerUnaryCall<CheckRequest, CheckResponse>, callback: sendUnaryData<CheckResponse>) => {
      callback(null, handler.check(call.request));
    },
  });
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, actual) =>
      err ? reject(err) : resolve(actual),
    );
  });
  return {
    port: bound,
    stop: () =>
      new Promise<void>((resolve) => {
        // In-flight checks finish; a stuck client does not hold the stop for long.
        const force = setTimeout(() => server.forceShutdown(), 5000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
