import { seedFile } from '@warden/infra';
import type { TestNats } from './harness.ts';

/** What a command printed, and how it exited. */
export type CapturedOutput = { code: number; out: string; err: string };

/** The streams a command writes to (`warden`'s `io`). */
export type OutputStreams = { out(text: string): void; err(text: string): void };

/**
 * Runs a command with its output captured, as a person would read it: `run` writes to the streams
 * it is handed and resolves with the exit code (for `warden`: `(io) => runCli(argv, { io, env })`).
 */
export async function captureOutput(run: (io: OutputStreams) => Promise<number>): Promise<CapturedOutput> {
  let out = '';
  let err = '';
  const code = await run({ out: (text) => (out += text), err: (text) => (err += text) });
  return { code, out, err };
}

/** The environment of `warden` run by a person on the test bus: its URL and `identity`'s seed. */
export const cliEnv = (nats: TestNats, identity = 'user'): NodeJS.ProcessEnv => ({
  WARDEN_NATS_URL: nats.url,
  WARDEN_NKEY: seedFile(nats.credsDir, identity),
});
