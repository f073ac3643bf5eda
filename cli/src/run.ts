import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { NatsConnection } from '@nats-io/nats-core';
import { Bus, EventsError, Principal } from '@warden/events';
import { connectNats } from '@warden/runtime';
import type { Command, CommandContext, Io, OutputFormat } from './command.ts';
import { UsageError } from './command.ts';
import { eventCommands } from './commands/events.ts';
import { identityCommands } from './commands/identity.ts';
import { policyCommands } from './commands/policy.ts';
import { topologyCommands } from './commands/topology.ts';
import { stackCommands } from './commands/stack.ts';

/** Every command, by domain. A new domain adds its array here. */
export const commands: readonly Command[] = [
  ...stackCommands,
  ...eventCommands,
  ...policyCommands,
  ...topologyCommands,
  ...identityCommands,
];

const globalOptions = {
  server: { type: 'string', short: 's' },
  nkey: { type: 'string' },
  identity: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type RunOptions = {
  io: Io;
  env?: NodeJS.ProcessEnv;
  /** Resolves when a long-running command should stop (Ctrl-C). */
  interrupted?: Promise<void>;
  cwd?: string;
};

function usage(): string {
  const width = Math.max(...commands.map((c) => `${c.path.join(' ')} ${c.args ?? ''}`.length));
  const lines = commands.map((c) => `  ${`${c.path.join(' ')} ${c.args ?? ''}`.padEnd(width)}  ${c.summary}`);
  return [
    'usage: warden <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'global options:',
    '  -s, --server URL     NATS server (env WARDEN_NATS_URL; default nats://127.0.0.1:4222)',
    '      --nkey FILE      nkey seed file (env WARDEN_NKEY; default .warden/creds/<identity>.nk)',
    '      --identity NAME  whose credentials to use (default user)',
    '  -o, --output FORMAT  text, json, or dot for graphs (default text)',
    '',
  ].join('\n');
}

/** Finds the command named by the longest prefix of the positionals. */
function findCommand(words: readonly string[]): { command: Command; rest: string[] } | null {
  let best: Command | null = null;
  for (const c of commands) {
    if (c.path.every((w, i) => words[i] === w) && (!best || c.path.length > best.path.length)) best = c;
  }
  return best ? { command: best, rest: words.slice(best.path.length) } : null;
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: readonly string[], options: RunOptions): Promise<number> {
  const { io } = options;
  const env = options.env ?? process.env;
  let nc: NatsConnection | undefined;
  try {
    // First pass: find the command, so its own options can be parsed with the global ones.
    const loose = parseArgs({
      args: [...argv],
      options: globalOptions,
      allowPositionals: true,
      strict: false,
    });
    const found = findCommand(loose.positionals);
    if (loose.values.help || loose.positionals.length === 0) {
      io.out(usage());
      return loose.values.help ? 0 : 2;
    }
    if (!found) throw new UsageError(`unknown command: ${loose.positionals.join(' ')}`);
    const { command } = found;
    const parsed = parseArgs({
      args: [...argv],
      options: { ...globalOptions, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    const positionals = parsed.positionals.slice(command.path.length);
    const output = (parsed.values.output ?? 'text') as string;
    if (output !== 'text' && output !== 'json' && output !== 'dot') {
      throw new UsageError(`--output must be text, json or dot (graphs), got ${output}`);
    }
    const identity = (parsed.values.identity as string | undefined) ?? 'user';
    if (identity !== 'admin' && !(Object.values(Principal) as string[]).includes(identity)) {
      throw new UsageError(`unknown identity ${identity}`);
    }
    const server =
      (parsed.values.server as string | undefined) ?? env['WARDEN_NATS_URL'] ?? 'nats://127.0.0.1:4222';
    const nkey =
      (parsed.values.nkey as string | undefined) ??
      env['WARDEN_NKEY'] ??
      defaultSeed(options.cwd ?? process.cwd(), identity);

    let bus: Bus | undefined;
    const ctx: CommandContext = {
      io,
      output: output as OutputFormat,
      env,
      interrupted: options.interrupted ?? new Promise<void>(() => undefined),
      nc: async () => {
        nc ??= await connectNats({
          url: server,
          principal: identity as Principal | 'admin',
          instance: `warden-cli-${process.pid}`,
          seedFile: nkey,
          reconnect: false,
        });
        return nc;
      },
      bus: async () => {
        bus ??= new Bus(await ctx.nc(), { source: `warden-cli-${process.pid}` });
        return bus;
      },
    };
    return await command.run(ctx, positionals, parsed.values as Record<string, unknown>);
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      io.err(`warden: ${err.message}\nrun 'warden --help' for the commands and options\n`);
      return 2;
    }
    const code = err instanceof EventsError ? ` [${err.code}]` : '';
    io.err(`warden: ${err instanceof Error ? err.message : String(err)}${code}\n`);
    return 1;
  } finally {
    await nc?.close().catch(() => undefined);
  }
}

function defaultSeed(cwd: string, identity: string): string | undefined {
  const file = join(cwd, '.warden', 'creds', `${identity}.nk`);
  return existsSync(file) ? file : undefined;
}
