import type { ParseArgsConfig } from 'node:util';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Bus } from '@warden/events';
import { WardenError } from '@warden/core';

/** Where a command writes: injected so tests read what a person would see. */
export type Io = {
  out(text: string): void;
  err(text: string): void;
};

/** `dot` (Graphviz) applies to graphs; other commands print text for it. */
export type OutputFormat = 'text' | 'json' | 'dot';

/** What every command gets: the parsed global options and a lazily opened bus. */
export type CommandContext = {
  readonly io: Io;
  readonly output: OutputFormat;
  /** The environment the command was started with (tests pass their own). */
  readonly env: NodeJS.ProcessEnv;
  /** The directory the command was started in; relative paths are relative to it. */
  readonly cwd: string;
  /** The local stack's folder (credentials, status.json): `$WARDEN_HOME/.warden`, else `./.warden`. */
  readonly wardenDir: string;
  /** Opens (once) a NATS connection with the configured identity. */
  bus(): Promise<Bus>;
  nc(): Promise<NatsConnection>;
  /** Resolves on Ctrl-C or when the test says stop; long-running commands end then. */
  readonly interrupted: Promise<void>;
};

export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

export type Command = {
  /** The words that name it: ['events', 'tail']. */
  readonly path: readonly string[];
  readonly summary: string;
  /** Positional arguments, as shown in help: '<event> [qualifier=value ...]'. */
  readonly args?: string;
  readonly options?: CommandOptions;
  /** What an option means, by its name, for `--help` (which shows every option, described or not). */
  readonly optionHelp?: Readonly<Record<string, string>>;
  run(ctx: CommandContext, positionals: string[], values: Record<string, unknown>): Promise<number>;
};

/** A mistake in how the command was called: exit code 2 with the message and the usage. */
export class UsageError extends WardenError {
  constructor(message: string) {
    super('usage', message);
  }
}

/** `--reason`, which commands that change the mesh require: it goes into the audit log. */
export function requiredReason(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new UsageError('--reason is required: it goes into the audit log');
  return value;
}
