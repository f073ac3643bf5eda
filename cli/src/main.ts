#!/usr/bin/env node
import { runCli } from './run.ts';

const interrupted = new Promise<void>((resolveInterrupt) => process.once('SIGINT', () => resolveInterrupt()));
const code = await runCli(process.argv.slice(2), {
  io: { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
  interrupted,
});
process.exit(code);
