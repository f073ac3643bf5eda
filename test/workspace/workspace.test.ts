import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { servicePrincipals } from '@warden/events';
import { repoRoot } from '@warden/infra';

type Manifest = { name: string; dependencies?: Record<string, string>; engines?: { node?: string } };
const manifest = (dir: string): Manifest =>
  JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8')) as Manifest;
const folders = (parent: string): string[] =>
  readdirSync(join(repoRoot, parent), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => `${parent}/${d.name}`);

describe('workspace', () => {
  it('runs on Node.js 24, as package.json engines say', () => {
    assert.equal(process.versions.node.split('.')[0], '24');
    assert.match(manifest('.').engines?.node ?? '', /^>=24 <25$/);
  });

  it('has one Nx project per service of ARCHITECTURE §1 and per lib, found offline', () => {
    const out = execFileSync(join(repoRoot, 'node_modules', '.bin', 'nx'), ['show', 'projects', '--json'], {
      cwd: repoRoot,
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
      encoding: 'utf8',
    });
    const projects = new Set(JSON.parse(out) as string[]);
    for (const name of servicePrincipals) assert.ok(projects.has(`@warden/${name}`), `service ${name}`);
    assert.deepEqual(
      folders('services')
        .map((f) => manifest(f).name)
        .sort(),
      servicePrincipals.map((s) => `@warden/${s}`).sort(),
    );
    for (const lib of folders('libs')) assert.ok(projects.has(manifest(lib).name), lib);
  });

  it('keeps libs free of service dependencies, and services free of each other', () => {
    const services = new Set(folders('services').map((f) => manifest(f).name));
    for (const dir of [...folders('libs'), ...folders('services')]) {
      const deps = Object.keys(manifest(dir).dependencies ?? {});
      const offending = deps.filter((d) => services.has(d));
      assert.deepEqual(offending, [], `${dir} depends on a service`);
    }
  });
});

describe('workspace boundaries, as ESLint enforces them from the Nx tags', () => {
  const lint = async (file: string, code: string): Promise<string[]> => {
    const { ESLint } = await import('eslint');
    const eslint = new ESLint({ cwd: repoRoot });
    const [result] = await eslint.lintText(code, { filePath: join(repoRoot, file) });
    return (result?.messages ?? []).filter((m) => m.ruleId === 'warden/boundaries').map((m) => m.message);
  };

  it('keeps pure libs off NATS, gRPC, Redis and every lib that uses them', async () => {
    const code = [
      "import { connect } from '@nats-io/transport-node';",
      "import * as grpc from '@grpc/grpc-js';",
      "import { Redis } from 'ioredis';",
      "import { Bus } from '@warden/events';",
      "import { runService } from '@warden/runtime';",
      "import { codeOf } from '@warden/core';",
      'export { connect, grpc, Redis, Bus, runService, codeOf };',
    ].join('\n');
    for (const lib of ['libs/pki', 'libs/policy-engine', 'libs/core', 'libs/trust-domain']) {
      const found = await lint(`${lib}/src/probe.ts`, code);
      assert.equal(found.length, 5, `${lib}: ${found.join('; ')}`);
    }
    assert.deepEqual(
      await lint('libs/pki/src/probe.test.ts', code),
      [],
      "a pure lib's tests may start servers",
    );
  });

  it('refuses relative imports into another project at any depth, and imports of services', async () => {
    const deep = await lint(
      'services/topology/src/a/b/probe.ts',
      "import { x } from '../../../../ca/src/ca.ts';\nimport { y } from '../../graph/fold.ts';\nexport { x, y };",
    );
    assert.equal(deep.length, 1, deep.join('; '));
    assert.match(deep[0] ?? '', /@warden\/ca by path/);
    const cases: [string, RegExp][] = [
      ['libs/events/src/probe.ts', /A lib never imports a service/],
      ['services/policy/src/probe.ts', /Services meet on the bus/],
      ['cli/src/probe.ts', /The CLI talks to services over the bus/],
    ];
    for (const [file, expected] of cases) {
      const found = await lint(file, "import { startCa } from '@warden/ca';\nexport { startCa };");
      assert.equal(found.length, 1, file);
      assert.match(found[0] ?? '', expected);
    }
  });
});
