import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { policyCommitted, policyRejected, policySubmit } from '@warden/events';
import type { Bus } from '@warden/events';
import type { DataOf, ServiceName } from '@warden/events';
import { freePort, httpOk, repoRoot, seedFile, startProcess } from '@warden/infra';
import type { ServerProcess } from '@warden/infra';
import type { TestNats } from '@warden/testing';

/** A Warden service in its own process on the benchmark's servers, ready when `/readyz` says so. */
export async function startServiceProcess(
  nats: TestNats,
  dir: string,
  name: ServiceName,
  env: Record<string, string>,
): Promise<ServerProcess> {
  const http = await freePort();
  return startProcess({
    name,
    command: process.execPath,
    args: [join(repoRoot, 'services', name, 'src', 'main.ts')],
    logFile: join(dir, `${name}.log`),
    env: {
      ...process.env,
      WARDEN_NATS_URL: nats.url,
      WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, name),
      WARDEN_HTTP_PORT: String(http),
      WARDEN_LOG_LEVEL: 'warn',
      ...env,
    },
    ready: () => httpOk(`http://127.0.0.1:${http}/readyz`),
  });
}

/** Submits a policy as a person would and waits for its verdict; a rejection throws. */
export async function submitPolicy(user: Bus, data: DataOf<typeof policySubmit>): Promise<void> {
  const id = randomUUID();
  const verdict = new Promise<void>((resolve, reject) => {
    const subs = [
      user.subscribe(policyCommitted, (e) => {
        if (e.data.submissionId !== id) return;
        for (const s of subs) s.unsubscribe();
        resolve();
      }),
      user.subscribe(policyRejected, (e) => {
        if (e.data.submissionId !== id) return;
        for (const s of subs) s.unsubscribe();
        reject(new Error(`rejected: ${JSON.stringify(e.data.reasons)}`));
      }),
    ];
  });
  await user.nc.flush();
  await user.publish(policySubmit, data, { id });
  await verdict;
}
