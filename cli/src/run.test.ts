import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { commands, runCli } from './run.ts';

type Result = { code: number; out: string; err: string };

async function cliIn(env: NodeJS.ProcessEnv, cwd: string | undefined, argv: string[]): Promise<Result> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    io: { out: (t) => (out += t), err: (t) => (err += t) },
    env,
    ...(cwd ? { cwd } : {}),
  });
  return { code, out, err };
}

const cli = (...argv: string[]): Promise<Result> => cliIn({}, undefined, argv);

describe('warden CLI', () => {
  it('prints help and exits 0 with --help, 2 with nothing', async () => {
    assert.equal((await cli('--help')).code, 0);
    const bare = await cli();
    assert.equal(bare.code, 2);
    assert.match(bare.out, /usage: warden <command>/);
  });

  it('names an unknown command, option or qualifier and exits 2', async () => {
    const unknown = await cli('frobnicate');
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown command: frobnicate/);
    assert.match((await cli('events', 'list', '--colour')).err, /Unknown option '--colour'/);
    const qualifier = await cli('events', 'tail', 'warden.alert.v1', 'colour=red');
    assert.equal(qualifier.code, 2);
    assert.match(qualifier.err, /has no qualifier colour \(qualifiers: severity, namespace, workload\)/);
    assert.match((await cli('events', 'schema', 'warden.nope.v1')).err, /unknown event "warden.nope.v1"/);
    assert.match((await cli('events', 'list', '-o', 'yaml')).err, /--output must be text, json or dot/);
  });

  it('lists every subject with its stream and principals, as JSON on request', async () => {
    const { code, out } = await cli('events', 'list', '--output', 'json');
    assert.equal(code, 0);
    const rows = JSON.parse(out) as {
      subject: string;
      stream: string;
      publishers: string;
      subscribers: string;
    }[];
    const submit = rows.find((r) => r.subject === 'warden.policy.v1.submit');
    assert.deepEqual(submit, {
      subject: 'warden.policy.v1.submit',
      stream: 'WARDEN_POLICY',
      publishers: 'console,user',
      subscribers: 'policy',
    });
    assert.ok(rows.some((r) => r.subject === 'warden.ca.v1.sign' && r.subscribers === 'ca'));
  });

  it('prints the JSON Schema of an event envelope', async () => {
    const { code, out } = await cli('events', 'schema', 'warden.policy.v1.submit');
    assert.equal(code, 0);
    const schema = JSON.parse(out) as { properties: { schema: { const: string } } };
    assert.equal(schema.properties.schema.const, 'warden.policy.v1.submit');
  });

  it('reports a missing stack status clearly', async () => {
    const { code, err } = await cli('status', '--dir', '/nonexistent');
    assert.equal(code, 1);
    assert.match(err, /no stack status at \/nonexistent\/status.json \(ENOENT\): is 'make up' running\?/);
  });

  it('finds .warden under WARDEN_HOME wherever it is started', async () => {
    const home = mkdtempSync(join(tmpdir(), 'warden-home-'));
    try {
      mkdirSync(join(home, '.warden'));
      const status = {
        updatedAt: '2026-01-01T00:00:00.000Z',
        components: [{ name: 'nats-server', state: 'ready', pid: 1, restarts: 0, url: 'nats://x' }],
      };
      writeFileSync(join(home, '.warden', 'status.json'), JSON.stringify(status));
      const found = await cliIn({ WARDEN_HOME: home }, '/', ['status']);
      assert.equal(found.code, 0, found.err);
      assert.match(found.out, /nats-server\s+ready/);
      const elsewhere = await cliIn({}, '/', ['status']);
      assert.equal(elsewhere.code, 1);
      assert.match(elsewhere.err, /no stack status at \/\.warden\/status.json/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('warden <command> --help', () => {
  // A listener where NATS would be: help must never open a connection to it.
  let server: Server;
  let connections = 0;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    env = { WARDEN_NATS_URL: `nats://127.0.0.1:${address.port}` };
  });
  after(() => {
    server.close();
    assert.equal(connections, 0, 'help connected to NATS');
  });

  it('no command option takes --help or -h, nor a global option', () => {
    for (const c of commands) {
      for (const [name, o] of Object.entries(c.options ?? {})) {
        assert.ok(
          !['help', 'server', 'nkey', 'identity', 'output'].includes(name),
          `${c.path.join(' ')} --${name}`,
        );
        assert.ok(!['h', 's', 'o'].includes(o.short ?? ''), `${c.path.join(' ')} -${o.short}`);
      }
    }
  });

  for (const c of commands) {
    const words = c.path.join(' ');
    it(`warden ${words} --help, -h and help ${words}: usage, summary and options, exit 0`, async () => {
      const runs = [
        [...c.path, '--help'],
        [...c.path, '-h'],
        ['help', ...c.path],
        // Arguments and even unknown options before --help do not matter.
        [...c.path, 'something', '--no-such-option', '--help'],
      ];
      const results = await Promise.all(runs.map((argv) => cliIn(env, undefined, argv)));
      for (const [i, r] of results.entries()) {
        assert.deepEqual([r.code, r.err], [0, ''], runs[i]?.join(' '));
        assert.equal(r.out, results[0]?.out, runs[i]?.join(' '));
      }
      const out = results[0]?.out ?? '';
      assert.ok(out.startsWith(`usage: warden ${words}`), out);
      assert.ok(out.includes(c.summary));
      for (const [name, o] of Object.entries(c.options ?? {})) {
        assert.ok(out.includes(`--${name}`), `--${name} in ${words} --help`);
        if (o.short) assert.ok(out.includes(`-${o.short}, --${name}`));
      }
      assert.match(out, /--server URL/);
    });
  }

  it('a group lists its commands; an unknown one is a usage error', async () => {
    const groups = new Set(commands.filter((c) => c.path.length > 1).map((c) => c.path[0] ?? ''));
    for (const group of groups) {
      const r = await cliIn(env, undefined, [group, '--help']);
      assert.equal(r.code, 0);
      for (const c of commands.filter((c) => c.path[0] === group)) {
        assert.ok(r.out.includes(c.path.join(' ')), `${c.path.join(' ')} in ${group} --help`);
      }
    }
    const top = await cli('help');
    assert.equal(top.code, 0);
    for (const c of commands) assert.ok(top.out.includes(c.path.join(' ')));
    const unknown = await cli('help', 'frobnicate');
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown command: frobnicate/);
    assert.equal((await cli('frobnicate', '--help')).code, 2);
  });
});
