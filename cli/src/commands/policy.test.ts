import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  formatAuthorizationPolicies,
  generateCorpus,
  parseAuthorizationPolicies,
} from '@warden/policy-engine';
import { runCli } from '../run.ts';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { io: { out: (t) => (out += t), err: (t) => (err += t) }, env: {} });
  return { code, out, err };
}

describe('warden policy analyze and minimize on local files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-policy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('minimises the generated 512-rule corpus to at most 32 equivalent rules', async () => {
    const file = join(dir, 'corpus.yaml');
    writeFileSync(file, formatAuthorizationPolicies(generateCorpus()));
    const { code, out, err } = await cli('policy', 'minimize', '-f', file, '--check', '20000');
    assert.equal(code, 0, err);
    assert.match(err, /^512 rules -> \d+; equivalent on 20000 generated requests \(\d+ allowed\): yes$/m);
    const minimised = parseAuthorizationPolicies(out);
    assert.deepEqual(minimised.issues, []);
    const rules = minimised.policies.reduce((n, p) => n + p.rules.length, 0);
    assert.ok(rules <= 32, `${rules} rules`);
  });

  it('finds a DENY that conflicts with an ALLOW on the same match', async () => {
    const file = join(dir, 'conflict.yaml');
    const policy = (name: string, action: string): string => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: shop }
spec:
  action: ${action}
  rules:
    - to: [{ operation: { methods: ["DELETE"] } }]
`;
    writeFileSync(file, `${policy('allow-delete', 'ALLOW')}---\n${policy('deny-delete', 'DENY')}`);
    const { code, out } = await cli('policy', 'analyze', '-f', file, '-o', 'json');
    assert.equal(code, 0);
    const findings = JSON.parse(out) as { kind: string; subject: string }[];
    assert.ok(
      findings.some((f) => f.kind === 'conflict'),
      out,
    );
  });

  it('refuses to apply a file that declares no kind it knows, before submitting anything', async () => {
    const folder = join(dir, 'apply');
    mkdirSync(folder);
    writeFileSync(join(folder, '10-mesh.yaml'), 'kind: MeshDefaults\ndefault: deny\n');
    writeFileSync(join(folder, '20-gateway.yaml'), 'apiVersion: networking.istio.io/v1\nkind: Gateway\n');
    const { code, err } = await cli('apply', '-f', folder);
    assert.equal(code, 2);
    assert.match(
      err,
      /20-gateway\.yaml: a document has kind "Gateway"; .*AuthorizationPolicy or MeshDefaults/,
    );
    writeFileSync(join(folder, '20-gateway.yaml'), 'default: deny\n');
    assert.match((await cli('apply', '-f', folder)).err, /20-gateway\.yaml: a document has no kind: field/);
  });

  it('finds HTTP-only fields on a port the workloads file declares TCP, and non-HTTP methods', async () => {
    const file = join(dir, 'tcp.yaml');
    writeFileSync(
      file,
      `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: db, namespace: shop }
spec:
  selector: { matchLabels: { app: db } }
  rules:
    - to: [{ operation: { ports: ["7000"], methods: ["SELECT"] } }]
`,
    );
    const workloads = join(dir, 'workloads.yaml');
    writeFileSync(workloads, '- { namespace: shop, labels: { app: db }, tcpPorts: [7000] }\n');
    const { code, out } = await cli('policy', 'analyze', '-f', file, '--workloads', workloads, '-o', 'json');
    assert.equal(code, 0);
    const kinds = (JSON.parse(out) as { kind: string }[]).map((f) => f.kind).sort();
    assert.deepEqual(kinds, ['http_fields_on_tcp', 'non_http_method']);
  });

  it('reports a broken file with its position', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(
      file,
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: x, namespace: y }\nspec:\n  action: PERMIT\n',
    );
    const { code, err } = await cli('policy', 'analyze', '-f', file);
    assert.equal(code, 2);
    assert.match(err, /broken\.yaml:5:\d+: /);
  });
});
