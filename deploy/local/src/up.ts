import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@warden/infra';
import { defaultClusterPorts, defaultPorts, ephemeralPorts, formatStatus, Stack } from './stack.ts';

const usage = `usage: node deploy/local/src/up.ts [--dir DIR] [--ephemeral-ports] [--cluster N]

Starts nats-server (JetStream), redis-server, VictoriaMetrics, every Warden service and vmalert
(the detector's query rules, services/detector/rules/*.rules.yml), prints a
status table, and keeps them running (a process that dies is restarted with backoff).
Ctrl-C stops everything in order. A second run resumes with the same data.

  --dir DIR           where data, credentials and logs live (default: .warden)
  --ephemeral-ports   use free ports instead of the fixed defaults (nats 4222, redis 6380,
                      victoria-metrics 8428, services 9401-9408, the CA's bundle and CRL 9409,
                      the enforcer's ext_authz 9191, telemetry-ingest's ALS and
                      StreamTelemetry 9410, the detector's alert receiver 9412, vmalert 8880)
  --cluster N         cluster mode (make up CLUSTER=3): N nats-server nodes (at least 3) with
                      TLS routes and JetStream R3 (clients 4222.., monitoring 8222.., routes
                      6222..), a Redis primary and replica (6380, 6381) with three Sentinels
                      (26380-26382), and two replicas of every service (the second on 9501-9508,
                      the CA's bundle and CRL 9509, ext_authz 9192, ADS 15011, telemetry-ingest
                      9511, the alert receiver 9513); data in DIR/nats-cluster and DIR/redis-sentinel
`;

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: join(repoRoot, '.warden') },
    'ephemeral-ports': { type: 'boolean', default: false },
    cluster: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}

const clusterNodes =
  values.cluster === undefined || values.cluster === '' ? undefined : Number(values.cluster);
if (clusterNodes !== undefined && (!Number.isInteger(clusterNodes) || clusterNodes < 3 || clusterNodes > 5)) {
  process.stderr.write(
    `--cluster takes the number of NATS nodes, 3 to 5, not ${JSON.stringify(values.cluster)}\n`,
  );
  process.exit(2);
}

const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
};

// One stack per folder: a second `make up` on the same data would fight the first for ports and files.
mkdirSync(values.dir, { recursive: true });
const pidFile = join(values.dir, 'up.pid');
const previous = Number(existsSync(pidFile) ? readFileSync(pidFile, 'utf8') : NaN);
if (Number.isInteger(previous) && previous !== process.pid && alive(previous)) {
  log(
    `another stack is running on ${values.dir} (pid ${previous}); stop it first (Ctrl-C there, or kill ${previous})`,
  );
  process.exit(1);
}
writeFileSync(pidFile, String(process.pid));
process.on('exit', () => rmSync(pidFile, { force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const stack = new Stack({
  dir: values.dir,
  ports: values['ephemeral-ports']
    ? await ephemeralPorts(clusterNodes)
    : { ...defaultPorts, ...(clusterNodes ? { cluster: defaultClusterPorts(clusterNodes) } : {}) },
  onEvent: log,
});

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) {
    log(`${signal} again: exiting now`);
    process.exit(1);
  }
  stopping = true;
  log(`${signal}: stopping services, then infrastructure`);
  stack.stop().then(
    () => {
      log('stopped');
      process.exit(0);
    },
    (err: unknown) => {
      log(`stop failed: ${String(err)}`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
// Closing the terminal must not orphan the children, which run in their own process groups.
process.on('SIGHUP', () => shutdown('SIGHUP'));

try {
  await stack.start();
} catch (err) {
  log(`cannot start the stack: ${err instanceof Error ? err.message : String(err)}`);
  log(`logs are in ${join(values.dir, 'logs')} and ${values.dir}/<component>/`);
  await stack.stop();
  process.exit(1);
}

process.stdout.write(`\n${formatStatus(stack.status())}\n\n`);
process.stdout.write(
  [
    `NATS: ${stack.natsUrl}`,
    ...(stack.redisSentinels
      ? [`Redis Sentinels: ${stack.redisSentinels} (primary '${stack.redisSet?.masterName}')`]
      : []),
    `NATS credentials: ${stack.credsDir}/<identity>.nk (one nkey seed per service, 'user' and 'admin')`,
    `Status: ${stack.statusFile}   Logs: ${join(values.dir, 'logs')}`,
    'Ctrl-C (or make down) stops everything.',
    '',
  ].join('\n'),
);
