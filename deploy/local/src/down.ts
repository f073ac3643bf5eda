/**
 * `make down`: stops the stack that `make up` runs on a folder, from another terminal, the way
 * Ctrl-C does (SIGTERM to the supervisor, which stops services, then infrastructure), and waits
 * until it is gone.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { repoRoot } from '@warden/infra';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: join(repoRoot, '.warden') },
    'timeout-ms': { type: 'string', default: '60000' },
  },
});

const pidFile = join(values.dir, 'up.pid');
const pid = Number(existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : NaN);
if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) {
  process.stdout.write(`no stack is running on ${values.dir}\n`);
  process.exit(0);
}

function alive(p: number): boolean {
  try {
    process.kill(p, 0);
    return true;
  } catch {
    return false;
  }
}

process.kill(pid, 'SIGTERM');
process.stdout.write(`stopping the stack on ${values.dir} (pid ${pid})\n`);
const deadline = Date.now() + Number(values['timeout-ms']);
while (alive(pid)) {
  if (Date.now() > deadline) {
    process.stderr.write(`the stack (pid ${pid}) is still stopping; see ${join(values.dir, 'logs')}\n`);
    process.exit(1);
  }
  await sleep(200);
}
process.stdout.write('stopped\n');
