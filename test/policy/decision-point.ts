/**
 * A decision-point process for the rollout tests: follows the active policy revision with the
 * enforcer's credentials and answers one JSON request per stdin line with one decision per line.
 * Usage: node decision-point.ts <nats-url> <seed-file> <name>
 */
import { createInterface } from 'node:readline';
import { Engine } from '@warden/policy-engine';
import type { AuthzRequest } from '@warden/policy-engine';
import { Bus } from '@warden/events';
import { DryRunDecider, PolicyFollower } from '@warden/policy-store';
import { connectNats } from '@warden/runtime';

const [url, seedFile, name] = process.argv.slice(2);
if (!url || !seedFile || !name) {
  process.stderr.write('usage: node decision-point.ts <nats-url> <seed-file> <name>\n');
  process.exit(2);
}
const nc = await connectNats({ url, principal: 'enforcer', instance: name, seedFile });
const engine = new Engine();
const dryRunEngine = new Engine();
const decider = new DryRunDecider({
  active: engine,
  dryRun: dryRunEngine,
  bus: new Bus(nc, { source: name, audit: { principal: 'enforcer' } }),
  decisionPoint: name,
});
const follower = new PolicyFollower({
  nc,
  decisionPoint: name,
  engine,
  dryRunEngine,
  logger: {
    debug() {},
    info() {},
    warn: (obj, msg) => process.stderr.write(`${msg} ${JSON.stringify(obj)}\n`),
    error: (obj, msg) => process.stderr.write(`${msg} ${JSON.stringify(obj)}\n`),
  },
});
await follower.start();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const decision = decider.decide(JSON.parse(line) as AuthzRequest);
  const applied = { applied: follower.appliedRevision, dryRun: follower.dryRunRevision };
  process.stdout.write(`${JSON.stringify({ ...decision, ...applied })}\n`);
}
follower.stop();
await nc.close();
