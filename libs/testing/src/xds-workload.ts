/**
 * A proxyless gRPC workload configured only by the enforcer's ADS (GRPC_XDS_BOOTSTRAP), as the
 * end-to-end tests run it in its own process (the bootstrap and the RBAC switch are per process):
 * - `server <address:port>`: serves payments.v1.Payments/Charge; prints `ready` once bound;
 * - `client <xds target>`: for each line on stdin, calls Charge and prints the outcome as JSON.
 */
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { register, XdsChannelCredentials, XdsServer, XdsServerCredentials } from '@grpc/grpc-js-xds';

const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8')) as unknown,
};
const payments: grpc.ServiceDefinition = {
  Charge: {
    path: '/payments.v1.Payments/Charge',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

const [role, where] = process.argv.slice(2);
// Registers the xds: scheme and the HTTP filters (router, RBAC) a server's listener names.
register();
if (role === 'server' && where) {
  const server = new XdsServer({ drainGraceTimeMs: 100 });
  server.addService(payments, {
    Charge: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { charged: true }),
  });
  server.bindAsync(where, new XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => {
    process.stdout.write(err ? `error ${err.message}\n` : 'ready\n');
  });
} else if (role === 'client' && where) {
  const Client = grpc.makeGenericClientConstructor(payments, 'Payments');
  const client = new Client(
    where,
    new XdsChannelCredentials(grpc.credentials.createInsecure()),
  ) as unknown as grpc.Client & {
    Charge(req: unknown, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void): void;
  };
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    await new Promise<void>((resolve) => {
      client.Charge({ amount: 1 }, { deadline: Date.now() + 3000 }, (err) => {
        process.stdout.write(
          `${JSON.stringify(err ? { code: err.code, details: err.details } : { code: 0 })}\n`,
        );
        resolve();
      });
    });
  }
  client.close();
} else {
  process.stderr.write('usage: xds-workload.ts server <address:port> | client <xds:///target>\n');
  process.exit(2);
}
