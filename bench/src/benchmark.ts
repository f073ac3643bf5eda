import { readFileSync } from 'node:fs';
/** Numeric knobs of one benchmark; each can be overridden with `--<name> N` on the command line. */
export type Params = Record<string, number>;

/** Figures of one side of a comparison: plain numbers, or one number per round. */
export type Figures = Record<string, number | number[]>;

export type Target = {
  /** What the target is about, in words and as the figure it checks. */
  description: string;
  metric: string;
  comparison: '<' | '>=';
  threshold: number;
  value: number;
  met: boolean;
};

/** What a benchmark measures: the bus (`results`) against the raw client (`baseline`). */
export type Outcome = {
  results: Figures;
  baseline: Figures;
  /** Bus figure divided by the raw one; how to read it depends on the benchmark (see the README). */
  ratio: number;
  target: Target;
};

export type Benchmark = {
  name: string;
  description: string;
  defaults: Params;
  run(params: Params, progress: (line: string) => void): Promise<Outcome>;
};

/** Checks a figure against a target; a missed target is reported, never fatal. */
export function target(
  description: string,
  metric: string,
  value: number,
  comparison: Target['comparison'],
  threshold: number,
): Target {
  const met = comparison === '<' ? value < threshold : value >= threshold;
  return { description, metric, comparison, threshold, value, met };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

/** Microseconds since a `process.hrtime.bigint()` reading. */
export const microsSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1000;

/**
 * The two sides in the order they run in round `index`: bus first on even rounds, raw first on odd
 * ones, so that neither always runs on a warmer (or more fragmented) process and server.
 */
export const sidesFor = <T>(index: number, bus: T, raw: T): [T, T] =>
  index % 2 === 0 ? [bus, raw] : [raw, bus];

/** Splits `total` into `rounds` near-equal parts, dropping empty ones (more rounds than items). */
export function split(total: number, rounds: number): number[] {
  const base = Math.floor(total / rounds);
  return Array.from({ length: rounds }, (_, i) => base + (i < total % rounds ? 1 : 0)).filter((n) => n > 0);
}

/**
 * CPU seconds (user + system) a process has used, from /proc (Linux): a server's cost per
 * operation reads steadier than its throughput when other work shares the cores.
 */
export function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    // Fields after the command name (which may hold spaces, hence the last ')'): utime is the
    // 12th, stime the 13th, in clock ticks of 1/100 s on Linux.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Runs `total` operations with `window` of them in flight, each started as soon as one finishes
 * (`publishOne` gets the operation's number); returns the elapsed seconds.
 */
export async function pump(
  total: number,
  window: number,
  publishOne: (i: number) => Promise<unknown>,
): Promise<number> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total) await publishOne(started++);
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(window, total) }, worker));
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
