import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { StartError, startProcess } from './process.ts';

describe('startProcess', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-process-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('says what a server printed when it exits before it is ready', async () => {
    const logFile = join(dir, 'early-exit.log');
    const error = await startProcess({
      name: 'doomed',
      command: process.execPath,
      args: [
        '-e',
        "console.log('starting'); console.error('listen tcp 127.0.0.1:4222: bind: address already in use'); process.exit(1)",
      ],
      logFile,
      ready: async () => false,
    }).then(
      () => assert.fail('started'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof StartError);
    assert.match(
      error.message,
      /^doomed exited \(1\) before it was ready: (starting \| listen tcp .*address already in use|listen tcp .*address already in use \| starting); see /,
    );
    assert.match(readFileSync(logFile, 'utf8'), /address already in use/);
  });
});

describe('startProcess, a server that never gets ready', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-process-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is killed at the deadline, and the error says what it printed last', async () => {
    const error = await startProcess({
      name: 'stuck',
      command: process.execPath,
      args: ['-e', "console.log('waiting for the disk'); setInterval(() => {}, 1000)"],
      logFile: join(dir, 'stuck.log'),
      ready: async () => false,
      readyTimeoutMs: 300,
    }).then(
      () => assert.fail('started'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof StartError);
    assert.match(error.message, /^stuck not ready within 300 ms, last said: waiting for the disk; see /);
  });
});
