import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WardenError } from '@warden/core';

export class StartError extends WardenError {
  constructor(message: string) {
    super('start_failed', message);
  }
}

export type ServerProcess = {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal) once the process has gone. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once, as a crash would. */
  kill(): Promise<void>;
};

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test run that ends without stopping its servers must not leave them behind. The children
  // run in their own process groups, so a signal that ends this process does not reach them.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      // A program with its own handler (the local stack) stops its children in order itself.
      if (process.listenerCount(signal) > 1) return;
      for (const child of running) child.kill('SIGKILL');
      process.exit(128 + (constants.signals[signal] ?? 0));
    });
  }
}

export type SpawnOptions = {
  name: string;
  command: string;
  args: readonly string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Polled until true; the server counts as started then. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
};

/** The end of a process's output, kept so a failed start can say why without opening the log. */
class OutputTail {
  private text = '';

  add(chunk: Buffer): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-OutputTail.KEEP);
  }

  /** The last `count` non-empty lines, joined with ' | '. */
  lines(count: number): string {
    return this.text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.length > 0)
      .slice(-count)
      .join(' | ');
  }

  private static readonly KEEP = 2048;
}

/** Starts a server process, sends its output to a log file, and waits until it is ready. */
export async function startProcess(options: SpawnOptions): Promise<ServerProcess> {
  installExitHook();
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(options.command, options.args, {
    // Its own process group: a Ctrl-C in the terminal reaches only the supervisor, which then
    // stops children in order (services before the NATS server they drain into).
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  // Two sources share one log: neither may end it, or the other's last words (a stack trace on
  // stderr after stdout closed) would be a write after end that crashes the supervisor.
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  // Kept only until the server is ready: after that the log has it, and a chatty server would
  // make every chunk a copy for nothing.
  const lastWords = new OutputTail();
  const keep = (chunk: Buffer): void => lastWords.add(chunk);
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const closed = new Promise<void>((resolveClosed) => child.once('close', () => resolveClosed()));
  void closed.then(() => log.end());
  log.on('error', () => undefined);
  running.add(child);
  const exited = new Promise<number | string>((resolveExit) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolveExit(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      running.delete(child);
      resolveExit(err.message);
    });
  });
  let gone: number | string | undefined;
  void exited.then((how) => {
    gone = how;
  });

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (gone !== undefined) {
      // The output is complete only once the pipes close, shortly after the exit.
      await Promise.race([closed, sleep(1000)]);
      const said = lastWords.lines(3);
      throw new StartError(
        `${options.name} exited (${gone}) before it was ready${said ? `: ${said}` : ''}; see ${options.logFile}`,
      );
    }
    if (await options.ready().catch(() => false)) {
      child.stdout?.off('data', keep);
      child.stderr?.off('data', keep);
      break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      const said = lastWords.lines(3);
      throw new StartError(
        `${options.name} not ready within ${options.readyTimeoutMs ?? 30_000} ms${said ? `, last said: ${said}` : ''}; see ${options.logFile}`,
      );
    }
    await sleep(25);
  }

  const stop = async (graceMs = 10_000): Promise<void> => {
    if (gone !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const kill = async (): Promise<void> => {
    if (gone !== undefined) return;
    child.kill('SIGKILL');
    await exited;
  };
  return { name: options.name, child, exited, stop, kill };
}

/** True when an HTTP GET of `url` answers 200. */
export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await res.body?.cancel();
  return res.ok;
}
