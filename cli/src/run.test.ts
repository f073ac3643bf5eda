import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from './run.ts';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { io: { out: (t) => (out += t), err: (t) => (err += t) }, env: {} });
  return { code, out, err };
}

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
});
