/**
 * The sides the mtls-handshake benchmark compares (profile × full/resumed, the plain TCP floor,
 * the tuned profile against the in-process servers) and the rounds that measure them all.
 */
import { split } from '../benchmark.ts';
import type { ProfileName } from '../mtls-handshake-profiles.ts';
import { profiles } from '../mtls-handshake-profiles.ts';
import { mint } from './client.ts';
import type { Ticket } from './client.ts';
import type { ClientContexts } from './fixtures.ts';
import { emptySample, tcpLoop, tlsLoop, withClientCpu } from './loops.ts';
import type { Sample } from './loops.ts';
import { tallyServers } from './servers.ts';
import type { Placement, Servers, ServerTally } from './servers.ts';

type SideName =
  | 'tunedFull'
  | 'tunedResumed'
  | 'tunedResumedGet'
  | 'nodeDefaultsFull'
  | 'nodeDefaultsResumed'
  | 'groupOnlyResumed'
  | 'suiteOnlyResumed'
  | 'inProcessFull'
  | 'inProcessResumed'
  | 'tcp';
type Side = {
  name: SideName;
  /** null: plain TCP to the echo server. */
  profile: ProfileName | null;
  resumed: boolean;
  then: 'end' | 'get';
  /** Where the server runs: its own process (the headline), or this one. */
  placement: Placement;
};

const SIDES: readonly Side[] = [
  { name: 'tunedFull', profile: 'tuned', resumed: false, then: 'end', placement: 'process' },
  { name: 'tunedResumed', profile: 'tuned', resumed: true, then: 'end', placement: 'process' },
  { name: 'nodeDefaultsFull', profile: 'nodeDefaults', resumed: false, then: 'end', placement: 'process' },
  { name: 'nodeDefaultsResumed', profile: 'nodeDefaults', resumed: true, then: 'end', placement: 'process' },
  { name: 'groupOnlyResumed', profile: 'groupOnly', resumed: true, then: 'end', placement: 'process' },
  { name: 'suiteOnlyResumed', profile: 'suiteOnly', resumed: true, then: 'end', placement: 'process' },
  // The same work per connection as `openssl s_time -reuse -www`: the ratio's Node side.
  { name: 'tunedResumedGet', profile: 'tuned', resumed: true, then: 'get', placement: 'process' },
  { name: 'inProcessFull', profile: 'tuned', resumed: false, then: 'end', placement: 'inProcess' },
  { name: 'inProcessResumed', profile: 'tuned', resumed: true, then: 'end', placement: 'inProcess' },
  { name: 'tcp', profile: null, resumed: false, then: 'end', placement: 'process' },
];

export type Samples = Record<SideName, Sample>;

/** What the sides connect to, and with. */
export type Setup = { placements: Record<Placement, Servers>; contexts: ClientContexts };

/** Tickets by `${placement} ${profile}`. */
type Tickets = Map<string, Ticket>;

function runSide({ placements, contexts }: Setup, side: Side, count: number, tickets: Tickets, into: Sample) {
  const target = placements[side.placement];
  if (side.profile === null) return tcpLoop(count, target.plainPort, into);
  const profile = profiles[side.profile];
  return tlsLoop(
    {
      count,
      port: target.ports[side.profile],
      context: contexts[side.profile],
      ticket: side.resumed ? tickets.get(`${side.placement} ${side.profile}`) : undefined,
      then: side.then,
      group: profile.group,
      suite: profile.suite,
    },
    into,
  );
}

/** A fresh ticket per resumed side's server, each from a full handshake whose server identity was checked. */
async function mintAll({ placements, contexts }: Setup): Promise<Tickets> {
  const tickets: Tickets = new Map();
  for (const { placement, profile, resumed } of SIDES) {
    const key = `${placement} ${profile}`;
    if (!resumed || profile === null || tickets.has(key)) continue;
    tickets.set(key, await mint(placements[placement].ports[profile], contexts[profile]));
  }
  return tickets;
}

type Counts = { handshakes: number; warmup: number; rounds: number };

/**
 * Every side `warmup` times, then `handshakes` times over `rounds` rounds; throws unless both sets
 * of servers authorised every connection of the rounds on the client's SPIFFE ID.
 */
export async function measureSides(
  setup: Setup,
  { handshakes, warmup, rounds }: Counts,
  progress: (line: string) => void,
): Promise<{ samples: Samples; servers: ServerTally }> {
  const server = setup.placements.process;
  const samples = Object.fromEntries(SIDES.map((side) => [side.name, emptySample()])) as Samples;
  const statsOf = async () => ({
    process: await server.stats(),
    inProcess: await setup.placements.inProcess.stats(),
  });

  progress('warm-up');
  const warmTickets = await mintAll(setup);
  for (const side of SIDES) await runSide(setup, side, warmup, warmTickets, emptySample());

  const before = await statsOf();
  const parts = split(handshakes, rounds);
  for (const [index, count] of parts.entries()) {
    const tickets = await mintAll(setup);
    // Every side runs in every round, each round starting one side later, so that drift in the
    // machine (other load on the two cores) falls on all of them.
    for (let k = 0; k < SIDES.length; k++) {
      const side = SIDES[(k + index) % SIDES.length] as Side;
      const sample = samples[side.name];
      const serverBefore = await server.stats();
      await withClientCpu(sample, () => runSide(setup, side, count, tickets, sample));
      // In-process sides: the client's figure holds both ends, this one nothing of theirs.
      if (side.placement === 'process')
        sample.serverCpuMicros += (await server.stats()).cpuMicros - serverBefore.cpuMicros;
    }
    progress(`round ${index + 1}/${parts.length}`);
  }
  return { samples, servers: tallyServers(before, await statsOf()) };
}
