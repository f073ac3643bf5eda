/**
 * The mtls-handshake benchmark's timed loops: sequential connections of one kind, their times
 * gathered into a `Sample`, with the client's CPU time around them.
 */
import type { SecureContext } from 'node:tls';
import { microsSince } from '../benchmark.ts';
import { connectOnce, tcpOnce } from './client.ts';
import type { Ticket } from './client.ts';
import { SERVER_ID } from './fixtures.ts';

export type Sample = {
  micros: number[];
  setupMicros: number[];
  tcpMicros: number[];
  helloMicros: number[];
  /** ClientHello written → 'secureConnect': the server's part and the client's processing of its flight. */
  afterHelloMicros: number[];
  reused: number;
  /** Wall time of whole connection cycles (handshake, close, the loop), µs. */
  cycleMicros: number;
  clientCpuMicros: number;
  serverCpuMicros: number;
};

export const emptySample = (): Sample => ({
  micros: [],
  setupMicros: [],
  tcpMicros: [],
  helloMicros: [],
  afterHelloMicros: [],
  reused: 0,
  cycleMicros: 0,
  clientCpuMicros: 0,
  serverCpuMicros: 0,
});

export type Loop = {
  count: number;
  port: number;
  context: SecureContext;
  ticket: Ticket | undefined;
  then: 'end' | 'get';
  /** Expected negotiation; null: not checked. */
  group: string | null;
  suite: string | null;
};

/** `count` sequential TLS connections; throws on any resumption or negotiation that is not as expected. */
export async function tlsLoop(loop: Loop, into: Sample): Promise<void> {
  // The client resumes only with a ticket minted by the server identity it wants for this peer.
  if (loop.ticket && loop.ticket.serverId !== SERVER_ID)
    throw new Error(`a ticket from ${loop.ticket.serverId} offered to ${SERVER_ID}`);
  const start = process.hrtime.bigint();
  for (let i = 0; i < loop.count; i++) {
    const conn = await connectOnce({
      port: loop.port,
      context: loop.context,
      then: loop.then,
      ...(loop.ticket ? { ticket: loop.ticket } : {}),
    });
    if (conn.reused !== Boolean(loop.ticket))
      throw new Error(
        `a ${loop.ticket ? 'resumed' : 'full'} handshake reported isSessionReused() ${conn.reused}`,
      );
    if ((loop.group && conn.group !== loop.group) || (loop.suite && conn.suite !== loop.suite))
      throw new Error(`negotiated ${conn.group} ${conn.suite}, expected ${loop.group} ${loop.suite}`);
    if (loop.then === 'get' && !conn.answer.endsWith('ok'))
      throw new Error(`unexpected answer ${conn.answer}`);
    into.micros.push(conn.micros);
    into.setupMicros.push(conn.setupMicros);
    into.tcpMicros.push(conn.tcpMicros);
    into.helloMicros.push(conn.helloMicros);
    into.afterHelloMicros.push(conn.micros - conn.setupMicros - conn.tcpMicros - conn.helloMicros);
    if (conn.reused) into.reused++;
  }
  into.cycleMicros += microsSince(start);
}

export async function tcpLoop(count: number, port: number, into: Sample): Promise<void> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const { connectMicros, echoMicros } = await tcpOnce(port);
    into.tcpMicros.push(connectMicros);
    into.micros.push(echoMicros);
  }
  into.cycleMicros += microsSince(start);
}

/** Adds this process's CPU time (user + system, µs) during `work` to the sample. */
export async function withClientCpu(into: Sample, work: () => Promise<void>): Promise<void> {
  const before = process.cpuUsage();
  await work();
  const cpu = process.cpuUsage(before);
  into.clientCpuMicros += cpu.user + cpu.system;
}
