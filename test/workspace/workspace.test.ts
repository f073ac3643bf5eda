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

  it('has one Nx project per service of DESIGN §1 and per lib, found offline', () => {
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
