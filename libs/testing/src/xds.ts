import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { grpcBootstrap } from '@warden/envoy';
import { istioIdentityOf } from '@warden/pki';
import { tempDir } from './harness.ts';
import type { TestTrustDomain } from './trust-domain.ts';
import { writeAgentFiles } from './trust-domain.ts';

/** A call's outcome as the client workload reports it: the gRPC status code and details. */
export type CallOutcome = { code: number; details?: string };

export type XdsWorkload = {
  readonly child: ChildProcessWithoutNullStreams;
  /** The next line the workload printed (`ready` for a server). */
  nextLine(): Promise<string>;
  /** One call (client only). */
  call(): Promise<CallOutcome>;
  /** Calls until the code is `want`, every `everyMs`, at most `tries` times; the last outcome. */
  callUntil(want: number, options?: { tries?: number; everyMs?: number }): Promise<CallOutcome>;
  stop(): void;
};

/**
 * Starts a proxyless gRPC workload (`xds-workload.ts`) in its own process, configured only by the
 * bootstrap file (ADS address, certificates), with gRPC's RBAC filter switched on.
 */
export function startXdsWorkload(
  role: 'server' | 'client',
  where: string,
  bootstrapFile: string,
): XdsWorkload {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'xds-workload.ts'), role, where], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrapFile, GRPC_XDS_EXPERIMENTAL_RBAC: 'true' },
  });
  child.stderr.on('data', (chunk: Buffer) => process.stderr.write(`[xds ${role}] ${chunk.toString()}`));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done) throw new Error(`the xDS ${role} workload ended`);
    return next.value;
  };
  const call = async (): Promise<CallOutcome> => {
    child.stdin.write('call\n');
    return JSON.parse(await nextLine()) as CallOutcome;
  };
  return {
    child,
    nextLine,
    call,
    callUntil: async (want, { tries = 150, everyMs = 100 } = {}) => {
      let outcome = await call();
      for (let i = 1; i < tries && outcome.code !== want; i++) {
        if (everyMs > 0) await sleep(everyMs);
        outcome = await call();
      }
      return outcome;
    },
    stop: () => {
      child.kill();
    },
  };
}

/**
 * What the agent leaves for a workload (`cert-chain.pem`, `key.pem`, `root-cert.pem`) from a test
 * trust domain, plus the workload's bootstrap pointing at the enforcer's ADS; returns the
 * bootstrap's path.
 */
export async function xdsWorkloadFiles(
  domain: TestTrustDomain,
  spiffeId: string,
  adsAddress: string,
): Promise<string> {
  const dir = tempDir('xds-workload');
  await writeAgentFiles(domain, spiffeId, dir);
  return writeXdsBootstrap(dir, spiffeId, adsAddress);
}

/**
 * A workload's bootstrap (`bootstrap.json`) in the folder holding its certificate files in the
 * agent's layout: the node named by its SPIFFE ID, the enforcer's ADS, the file watcher over the
 * folder. Returns its path.
 */
export function writeXdsBootstrap(dir: string, spiffeId: string, adsAddress: string): string {
  const file = (name: string) => join(dir, name);
  writeFileSync(
    file('bootstrap.json'),
    JSON.stringify(
      grpcBootstrap({
        adsAddress,
        nodeId: spiffeId,
        namespace: istioIdentityOf(spiffeId)?.namespace ?? 'default',
        certificateFile: file('cert-chain.pem'),
        privateKeyFile: file('key.pem'),
        caCertificateFile: file('root-cert.pem'),
      }),
    ),
  );
  return file('bootstrap.json');
}
