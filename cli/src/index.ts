export type { Command, CommandContext, Io, OutputFormat } from './command.ts';
export { UsageError } from './command.ts';
export { commands, runCli } from './run.ts';
export type { ExportLine } from './commands/audit.ts';
