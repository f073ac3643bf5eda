/**
 * `node bench/src/run.ts <name|list|all> [--<param> N ...]`: runs benchmarks against a real
 * nats-server and prints their JSON to stdout (progress goes to stderr, so stdout stays JSON).
 * Each result is also written to bench/results/<name>-<timestamp>.json. A missed target is
 * reported in the JSON and never fails the process: machines differ, a red CI would be noise.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Benchmark, Outcome, Params } from './benchmark.ts';
import { busPublishThroughput } from './bus-publish-throughput.ts';
import { busRequestReply } from './bus-request-reply.ts';
import { topology } from './topology.ts';
import { policyDecision } from './policy-decision.ts';
import { pkiIssuance } from './pki-issuance.ts';
import { caIssuance } from './ca-issuance.ts';
import { clusterR3 } from './cluster-r3.ts';
import { agentCache } from './agent-cache.ts';
import { mtlsHandshake } from './mtls-handshake.ts';
import { extAuthz } from './ext-authz.ts';
import { containmentTime, xdsFanout } from './xds.ts';
import { haproxyThroughput } from './haproxy.ts';
import { auditAppend } from './audit-append.ts';
import { auditVerify } from './audit-verify.ts';
import { ingestBench } from './ingest.ts';
import { detectScore } from './detect-score.ts';
import { detection } from './detection.ts';
import { lstm } from './lstm.ts';

const benchmarks: readonly Benchmark[] = [
  busRequestReply,
  busPublishThroughput,
  pkiIssuance,
  caIssuance,
  clusterR3,
  agentCache,
  mtlsHandshake,
  policyDecision,
  topology,
  extAuthz,
  xdsFanout,
  containmentTime,
  haproxyThroughput,
  auditAppend,
  auditVerify,
  ingestBench,
  detectScore,
  lstm,
  detection,
];
const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));

type Report = {
  name: string;
  time: string;
  node: string;
  machine: { cpus: number; model: string };
  params: Params;
} & Outcome;

class UsageError extends Error {}

function usage(): string {
  const lines = benchmarks.map((b) => {
    const flags = Object.entries(b.defaults)
      .map(([key, value]) => `--${key} ${value}`)
      .join(' ');
    return `  ${b.name.padEnd(24)} ${b.description}\n  ${''.padEnd(24)} ${flags}`;
  });
  return [
    'usage: node bench/src/run.ts <name|list|all> [--<param> N ...]',
    '',
    'benchmarks (with their parameters and defaults):',
    ...lines,
  ].join('\n');
}

/** Parses `--key N` and `--key=N`; every key must be a parameter of a selected benchmark. */
function parseFlags(args: readonly string[], selected: readonly Benchmark[]): Params {
  const known = new Set(selected.flatMap((b) => Object.keys(b.defaults)));
  const flags: Params = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const match = /^--([a-z][a-z-]*)(?:=(.*))?$/.exec(arg);
    if (!match?.[1]) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const key = match[1];
    const text = match[2] ?? args[++i];
    if (!known.has(key)) throw new UsageError(`unknown parameter --${key}`);
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1)
      throw new UsageError(`--${key} needs a positive integer, got ${JSON.stringify(text)}`);
    flags[key] = value;
  }
  return flags;
}

async function runOne(benchmark: Benchmark, flags: Params): Promise<Report> {
  // Only the flags this benchmark knows: with `all`, --window is meaningless to request-reply.
  const params: Params = { ...benchmark.defaults };
  for (const key of Object.keys(params)) if (flags[key] !== undefined) params[key] = flags[key];
  const progress = (line: string): void => void process.stderr.write(`[${benchmark.name}] ${line}\n`);
  progress(`params ${JSON.stringify(params)}`);
  const time = new Date().toISOString();
  const outcome = await benchmark.run(params, progress);
  const report: Report = {
    name: benchmark.name,
    time,
    node: process.version,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown' },
    params,
    ...outcome,
  };
  mkdirSync(resultsDir, { recursive: true });
  const file = `${resultsDir}${benchmark.name}-${time.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  progress(`wrote ${file}`);
  return report;
}

async function main(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stderr.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === 'list') {
    process.stdout.write(`${benchmarks.map((b) => b.name).join('\n')}\n`);
    return 0;
  }
  const selected = name === 'all' ? benchmarks : benchmarks.filter((b) => b.name === name);
  if (selected.length === 0) {
    const known = benchmarks.map((b) => b.name).join(', ');
    throw new UsageError(`unknown benchmark ${JSON.stringify(name)}; known: ${known} (or list, all)`);
  }
  const flags = parseFlags(rest, selected);
  const reports: Report[] = [];
  for (const benchmark of selected) reports.push(await runOne(benchmark, flags));
  const output = name === 'all' ? reports : reports[0];
  process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n\n${usage()}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
