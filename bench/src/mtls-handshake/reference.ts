/**
 * The mtls-handshake benchmark's `baseline`, in the same run: `openssl s_time` against the Node
 * server (full, and resumed with the GET it needs to read a TLS 1.3 ticket), openssl on both ends
 * (`s_time` against `s_server`), and the same Node client against `s_server`.
 */
import { existsSync } from 'node:fs';
import type { Figures } from '../benchmark.ts';
import { profiles } from '../mtls-handshake-profiles.ts';
import { mint } from './client.ts';
import type { Ticket } from './client.ts';
import { latency } from './figures.ts';
import type { ClientContexts, Files } from './fixtures.ts';
import { GET_PATH } from './fixtures.ts';
import { emptySample, tlsLoop } from './loops.ts';
import type { Loop } from './loops.ts';
import { OPENSSL, startSServer, sTime, sTimeFigures } from './openssl.ts';
import type { Servers } from './servers.ts';
import { stopChild } from './servers.ts';

export type Reference = {
  baseline: Figures;
  /** Mean µs per connection of `s_time -new` and of `s_time -reuse -www` against the Node server; NaN without openssl. */
  sTimeNewMean: number;
  sTimeReuseGetMean: number;
};

export type ReferenceSetup = {
  /** The Node servers in their own process: s_time runs against their tuned profile. */
  server: Servers;
  files: Files;
  contexts: ClientContexts;
  handshakes: number;
  warmup: number;
  seconds: number;
};

export async function opensslReference(
  setup: ReferenceSetup,
  progress: (line: string) => void,
): Promise<Reference> {
  if (!existsSync(OPENSSL)) {
    progress(`${OPENSSL} is missing: no openssl reference`);
    return { baseline: { opensslMissing: 1 }, sTimeNewMean: Number.NaN, sTimeReuseGetMean: Number.NaN };
  }
  const reference = await sTimeAgainstNode(setup, progress);
  try {
    await againstSServer(setup, reference.baseline, progress);
  } catch (err) {
    progress(`openssl s_server reference skipped: ${err instanceof Error ? err.message : String(err)}`);
    reference.baseline.sServerFailed = 1;
  }
  return reference;
}

/** s_time against the Node server's tuned profile, and what that server saw meanwhile. */
async function sTimeAgainstNode(
  { server, files, seconds }: ReferenceSetup,
  progress: (line: string) => void,
): Promise<Reference> {
  const statsBefore = await server.stats();
  const port = server.ports.tuned;
  progress(`openssl s_time -new against the Node server, ${seconds} s`);
  const sNew = sTimeFigures('sTimeNew', await sTime(port, files, '-new', seconds, false));
  progress(`openssl s_time -new -www ${GET_PATH}, ${seconds} s`);
  const sNewGet = sTimeFigures('sTimeNewWww', await sTime(port, files, '-new', seconds, true));
  progress(`openssl s_time -reuse -www ${GET_PATH}, ${seconds} s`);
  const sReuseGet = sTimeFigures('sTimeReuseWww', await sTime(port, files, '-reuse', seconds, true));
  const statsAfter = await server.stats();
  if (sReuseGet.sTimeReuseWwwResumed !== Number(sReuseGet.sTimeReuseWwwConnections))
    throw new Error('openssl s_time -reuse -www did not resume every connection');
  return {
    baseline: {
      ...sNew,
      ...sNewGet,
      ...sReuseGet,
      nodeServerConnectionsDuringSTime: statsAfter.connections - statsBefore.connections,
      nodeServerResumedDuringSTime: statsAfter.resumed - statsBefore.resumed,
      nodeServerIdentityMismatchesDuringSTime: statsAfter.identityMismatches - statsBefore.identityMismatches,
      nodeServerClientErrorsDuringSTime: statsAfter.clientErrors - statsBefore.clientErrors,
    },
    sTimeNewMean: Number(sNew.sTimeNewMeanMicros),
    sTimeReuseGetMean: Number(sReuseGet.sTimeReuseWwwMeanMicros),
  };
}

/** s_time, then the Node client, against openssl s_server; figures go into `baseline` as they come. */
async function againstSServer(
  { files, contexts, handshakes, warmup, seconds }: ReferenceSetup,
  baseline: Figures,
  progress: (line: string) => void,
): Promise<void> {
  const sServer = await startSServer(files);
  try {
    progress(`openssl s_time against openssl s_server, ${seconds} s each`);
    Object.assign(
      baseline,
      sTimeFigures('sServerSTimeNew', await sTime(sServer.port, files, '-new', seconds, false)),
      sTimeFigures('sServerSTimeReuseWww', await sTime(sServer.port, files, '-reuse', seconds, true)),
    );
    progress('the Node client against openssl s_server, full and resumed');
    const loop = (ticket: Ticket | undefined): Loop => ({
      count: handshakes,
      port: sServer.port,
      context: contexts.tuned,
      ticket,
      then: 'end',
      group: profiles.tuned.group,
      suite: profiles.tuned.suite,
    });
    await tlsLoop({ ...loop(undefined), count: warmup }, emptySample());
    const viaFull = emptySample();
    await tlsLoop(loop(undefined), viaFull);
    const viaResumed = emptySample();
    await tlsLoop(loop(await mint(sServer.port, contexts.tuned)), viaResumed);
    Object.assign(
      baseline,
      latency('nodeClientToSServerFull', viaFull, false, 'none'),
      latency('nodeClientToSServerResumed', viaResumed, false, 'none'),
    );
  } finally {
    await stopChild(sServer.child);
  }
}
