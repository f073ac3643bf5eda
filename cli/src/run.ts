import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AuthorizationError } from '@nats-io/nats-core';
import type { NatsConnection } from '@nats-io/nats-core';
import { messageOf, WardenError } from '@warden/core';
import { Bus, Principal } from '@warden/events';
import { connectNats } from '@warden/runtime';
import type { Command, CommandContext, Io, OutputFormat } from './command.ts';
import { UsageError } from './command.ts';
import { auditCommands } from './commands/audit.ts';
import { alertCommands } from './commands/alerts.ts';
import { containmentCommands } from './commands/containment.ts';
import { detectRuleCommands } from './commands/detect-rules.ts';
import { detectCommands } from './commands/detect.ts';
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
  ...containmentCommands,
  ...auditCommands,
  ...alertCommands,
  ...detectRuleCommands,
  ...detectCommands,
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

const globalHelp = [
  'global options:',
  '  -s, --server URL     NATS server (env WARDEN_NATS_URL; default nats://127.0.0.1:4222)',
  '      --nkey FILE      nkey seed file (env WARDEN_NKEY; default $WARDEN_HOME/.warden/creds/<identity>.nk)',
  '      --identity NAME  whose credentials to use (default user)',
  '  -o, --output FORMAT  text (table), json, or dot for graphs (default text)',
  '  -h, --help           this help; `warden <command> --help` for one command',
  '',
  'WARDEN_HOME is the folder whose .warden (credentials, stack status) is used; default the current',
  'directory. The .tools/bin/warden that scripts/setup.sh writes sets it to the repository.',
  '',
];

/** Lines `  <words>  <summary>`, aligned. */
function commandList(list: readonly Command[]): string[] {
  const width = Math.max(...list.map((c) => c.path.join(' ').length));
  return list.map((c) => `  ${c.path.join(' ').padEnd(width)}  ${c.summary}`);
}

function usage(): string {
  return [
    'usage: warden <command> [options]',
    '       warden <command> --help   (or warden help <command>) for its arguments and options',
    '',
    'commands:',
    ...commandList(commands),
    '',
    ...globalHelp,
  ].join('\n');
}

/** The commands under a group of words (`policy`, `ca`), as help for the group. */
function groupUsage(words: readonly string[], list: readonly Command[]): string {
  return [
    `usage: warden ${words.join(' ')} <command> [options]`,
    '',
    'commands:',
    ...commandList(list),
    '',
    "run 'warden <command> --help' for a command's arguments and options",
    '',
  ].join('\n');
}

/** One command's usage, summary and options, generated from its definition. */
function commandUsage(command: Command): string {
  const options = Object.entries(command.options ?? {});
  const usageLine = ['usage: warden', ...command.path, command.args, options.length ? '[options]' : '']
    .filter(Boolean)
    .join(' ');
  const flags = options.map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${name.toUpperCase().replace(/-/g, '_')}` : ''}`;
    const notes = [
      command.optionHelp?.[name] ?? '',
      o.multiple ? 'may be repeated' : '',
      o.default !== undefined && o.default !== false ? `default ${String(o.default)}` : '',
    ].filter(Boolean);
    return { flag, note: notes.join('; ') };
  });
  const width = Math.max(0, ...flags.map((f) => f.flag.length));
  return [
    usageLine,
    '',
    command.summary,
    '',
    ...(flags.length
      ? ['options:', ...flags.map((f) => `  ${f.flag.padEnd(width)}  ${f.note}`.trimEnd()), '']
      : []),
    ...globalHelp,
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

/**
 * The help for `words` (`--help` after them, or `warden help <words>`): a command's own help, the
 * commands of a group, or everything. Null if the words name nothing.
 */
function helpFor(words: readonly string[]): string | null {
  if (words.length === 0) return usage();
  const found = findCommand(words);
  if (found) return commandUsage(found.command);
  const group = commands.filter(
    (c) => c.path.length > words.length && words.every((w, i) => c.path[i] === w),
  );
  return group.length ? groupUsage(words, group) : null;
}

/** The folder whose `.warden` holds the stack's credentials and status. */
function wardenHome(env: NodeJS.ProcessEnv, cwd: string): string {
  const home = env['WARDEN_HOME'];
  return home ? resolve(cwd, home) : cwd;
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: readonly string[], options: RunOptions): Promise<number> {
  const { io } = options;
  const env = options.env ?? process.env;
  let nc: NatsConnection | undefined;
  let missingSeed: string | undefined;
  try {
    // First pass: find the command, so its own options can be parsed with the global ones.
    const loose = parseArgs({
      args: [...argv],
      options: globalOptions,
      allowPositionals: true,
      strict: false,
    });
    const words = loose.positionals;
    if (words.length === 0 && !loose.values.help) {
      io.out(usage());
      return 2;
    }
    // Help never parses the command's options strictly and never connects.
    if (loose.values.help || words[0] === 'help') {
      const target = words[0] === 'help' ? words.slice(1) : words;
      const text = helpFor(target);
      if (text === null) throw new UsageError(`unknown command: ${target.join(' ')}`);
      io.out(text);
      return 0;
    }
    const found = findCommand(words);
    if (!found) throw new UsageError(`unknown command: ${words.join(' ')}`);
    const { command } = found;
    const parsed = parseArgs({
      args: [...argv],
      options: { ...globalOptions, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    const positionals = parsed.positionals.slice(command.path.length);
    // `table` is what `text` prints for lists; both names are accepted.
    const given = (parsed.values.output ?? 'text') as string;
    const output = given === 'table' ? 'text' : given;
    if (output !== 'text' && output !== 'json' && output !== 'dot') {
      throw new UsageError(`--output must be text, json or dot (graphs), or table (as text), got ${given}`);
    }
    const identity = (parsed.values.identity as string | undefined) ?? 'user';
    if (identity !== 'admin' && !(Object.values(Principal) as string[]).includes(identity)) {
      throw new UsageError(`unknown identity ${identity}`);
    }
    const server =
      (parsed.values.server as string | undefined) ?? env['WARDEN_NATS_URL'] ?? 'nats://127.0.0.1:4222';
    const cwd = options.cwd ?? process.cwd();
    const wardenDir = join(wardenHome(env, cwd), '.warden');
    const nkeyGiven = (parsed.values.nkey as string | undefined) ?? env['WARDEN_NKEY'];
    const nkey = nkeyGiven ? resolve(cwd, nkeyGiven) : defaultSeed(wardenDir, identity);
    if (nkey === undefined) missingSeed = join(wardenDir, 'creds', `${identity}.nk`);

    let bus: Bus | undefined;
    const ctx: CommandContext = {
      io,
      output: output as OutputFormat,
      env,
      cwd,
      wardenDir,
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
    const code = err instanceof WardenError ? ` [${err.code}]` : '';
    const message = messageOf(err);
    // Without credentials the server says only "Authorization Violation"; say where they were looked for.
    const hint =
      missingSeed && err instanceof AuthorizationError
        ? `\n(no nkey: ${missingSeed} does not exist; give --nkey or WARDEN_NKEY, or set WARDEN_HOME to the folder holding .warden)`
        : '';
    io.err(`warden: ${message}${code}${hint}\n`);
    return 1;
  } finally {
    await nc?.close().catch(() => undefined);
  }
}

function defaultSeed(wardenDir: string, identity: string): string | undefined {
  const file = join(wardenDir, 'creds', `${identity}.nk`);
  return existsSync(file) ? file : undefined;
}
