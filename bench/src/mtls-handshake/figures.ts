/**
 * The mtls-handshake benchmark's figures: each side's sample as flat `Figures`, and the outcome
 * (results, baseline, ratio, target) the run prints.
 */
import type { Figures, Outcome } from '../benchmark.ts';
import { percentile, round, target } from '../benchmark.ts';
import type { Sample } from './loops.ts';
import type { Reference } from './reference.ts';
import type { ServerTally } from './servers.ts';
import type { Samples } from './sides.ts';

const p = (values: readonly number[], pct: number): number =>
  round(
    percentile(
      [...values].sort((a, b) => a - b),
      pct,
    ),
  );
const mean = (values: readonly number[]): number =>
  values.reduce((sum, x) => sum + x, 0) / Math.max(1, values.length);

/**
 * Figures is flat: `prefix` + `P50Micros` and so on. `cpu`: `split` gives client and server CPU
 * per connection, `both` one figure for a process that holds both ends, `none` none (openssl s_server).
 */
export function latency(
  prefix: string,
  sample: Sample,
  detail = false,
  cpu: 'split' | 'both' | 'none' = 'split',
): Figures {
  const count = sample.micros.length;
  return {
    [`${prefix}P50Micros`]: p(sample.micros, 50),
    ...(detail ? { [`${prefix}P90Micros`]: p(sample.micros, 90) } : {}),
    [`${prefix}P99Micros`]: p(sample.micros, 99),
    [`${prefix}MeanMicros`]: round(mean(sample.micros)),
    [`${prefix}Count`]: count,
    [`${prefix}Reused`]: sample.reused,
    ...(detail
      ? {
          [`${prefix}SetupP50Micros`]: p(sample.setupMicros, 50),
          [`${prefix}TcpConnectP50Micros`]: p(sample.tcpMicros, 50),
          [`${prefix}ClientHelloP50Micros`]: p(sample.helloMicros, 50),
          [`${prefix}AfterHelloP50Micros`]: p(sample.afterHelloMicros, 50),
        }
      : {}),
    [`${prefix}CycleMeanMicros`]: round(sample.cycleMicros / Math.max(1, count)),
    ...(cpu === 'both'
      ? { [`${prefix}BothEndsCpuMicros`]: round(sample.clientCpuMicros / Math.max(1, count)) }
      : {}),
    ...(cpu === 'split'
      ? { [`${prefix}ClientCpuMicros`]: round(sample.clientCpuMicros / Math.max(1, count)) }
      : {}),
    ...(cpu === 'split'
      ? { [`${prefix}ServerCpuMicros`]: round(sample.serverCpuMicros / Math.max(1, count)) }
      : {}),
  };
}

/** The run's outcome: the sides' figures and the two targets in `results`, the openssl reference in `baseline`. */
export function outcome(samples: Samples, servers: ServerTally, reference: Reference): Outcome {
  const tcp = samples.tcp;
  const full = latency('full', samples.tunedFull, true);
  const resumed = latency('resumed', samples.tunedResumed, true);
  const resumedGet = latency('resumedGet', samples.tunedResumedGet);
  const fullP50Millis = Number(full.fullP50Micros) / 1000;
  const resumedP50Millis = Number(resumed.resumedP50Micros) / 1000;
  const fullOk = fullP50Millis <= 2 ? 1 : 0;
  const resumedOk = resumedP50Millis < 1 ? 1 : 0;
  return {
    results: {
      ...full,
      ...resumed,
      resumedOverFullP50: round(resumedP50Millis / fullP50Millis, 3),
      ...resumedGet,
      ...latency('nodeDefaultsFull', samples.nodeDefaultsFull),
      ...latency('nodeDefaultsResumed', samples.nodeDefaultsResumed),
      ...latency('groupOnlyResumed', samples.groupOnlyResumed),
      ...latency('suiteOnlyResumed', samples.suiteOnlyResumed),
      ...latency('inProcessFull', samples.inProcessFull, false, 'both'),
      ...latency('inProcessResumed', samples.inProcessResumed, false, 'both'),
      tcpConnectP50Micros: p(tcp.tcpMicros, 50),
      tcpConnectEchoP50Micros: p(tcp.micros, 50),
      tcpConnectEchoP99Micros: p(tcp.micros, 99),
      tcpCycleMeanMicros: round(tcp.cycleMicros / Math.max(1, tcp.micros.length)),
      fullCycleOverSTimeNew: round(Number(full.fullCycleMeanMicros) / reference.sTimeNewMean, 3),
      serverIdentityChecked: servers.identityChecked,
      serverIdentityMismatches: servers.identityMismatches,
      serverResumed: servers.resumed,
      targetFullP50AtMost2Millis: fullOk,
      targetResumedP50Under1Millis: resumedOk,
    },
    baseline: reference.baseline,
    ratio: round(Number(resumedGet.resumedGetCycleMeanMicros) / reference.sTimeReuseGetMean, 3),
    target: target(
      'full mTLS handshake p50 at most 2 ms and resumed p50 under 1 ms (count of the two met)',
      'targetsMet',
      fullOk + resumedOk,
      '>=',
      2,
    ),
  };
}
