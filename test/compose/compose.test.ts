import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import {
  bootOnlyMarker,
  composeNatsConfig,
  composeServices as generatorComposeServices,
  credsDir,
  dockerfile as dockerfilePath,
  generate,
  isBootOnly,
} from '../../deploy/compose/generate.ts';
import {
  credsDir as credsDirK8s,
  kubernetesSecrets,
  operatorSecrets,
} from '../../deploy/kubernetes/secrets.ts';
import { ingestConfig, listenerProblems } from '@warden/telemetry-ingest';

/**
 * The container deployment, checked without a Docker engine: docker-compose.yml, the one
 * Dockerfile of the services' images, the compose generator and the Kubernetes pattern must agree
 * with the workspace.
 */

const root = resolve(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

type Obj = Record<string, unknown>;

function obj(value: unknown, what: string): Obj {
  assert.ok(
    value !== null && typeof value === 'object' && !Array.isArray(value),
    `${what} should be a mapping, got ${JSON.stringify(value)}`,
  );
  return value as Obj;
}

function list(value: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(value), `${what} should be a list, got ${JSON.stringify(value)}`);
  return value;
}

function str(value: unknown, what: string): string {
  assert.equal(typeof value, 'string', `${what} should be a string, got ${JSON.stringify(value)}`);
  return value as string;
}

const packageJson = (dir: string): Obj =>
  obj(JSON.parse(read(join(dir, 'package.json'))), `${dir}/package.json`);

/** Warden services are the folders of services/ that are workspaces. */
const wardenServices = readdirSync(join(root, 'services'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, 'services', d.name, 'package.json')))
  .map((d) => d.name)
  .sort();

/** The services compose runs: all but the boot-only placeholders, which it leaves out. */
const runningServices = wardenServices.filter((name) => !isBootOnly(name));
const bootOnlyServices = wardenServices.filter((name) => isBootOnly(name));

/** The node major the workspace runs on, from package.json engines (">=24 <25" gives 24). */
const nodeMajor = Number(
  /\d+/.exec(str(obj(packageJson('.')['engines'], 'engines')['node'], 'engines.node'))?.[0],
);

/** Versions pinned in tools/go.mod, the one place the Go-built tools are pinned. */
function goModVersion(module: string): string {
  const match = new RegExp(`^\\s*${module.replaceAll('.', '\\.')} (v\\S+)`, 'm').exec(read('tools/go.mod'));
  assert.ok(match?.[1], `${module} is pinned in tools/go.mod`);
  return match[1];
}

const compose = obj(parse(read('docker-compose.yml'), { merge: true }), 'docker-compose.yml');
const composeServices = obj(compose['services'], 'services');
const service = (name: string): Obj => obj(composeServices[name], `service ${name}`);

function environment(svc: Obj, name: string): Record<string, string> {
  const env = svc['environment'];
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const [key = '', ...rest] = str(entry, `${name} environment entry`).split('=');
        return [key, rest.join('=')];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(obj(env, `${name}.environment`)).map(([key, value]) => [key, String(value)]),
  );
}

/** A compose build's args, written as a mapping or as a list of NAME=value. */
function buildArgs(build: Obj, name: string): Record<string, string> {
  const args = build['args'] ?? {};
  if (Array.isArray(args)) {
    return Object.fromEntries(
      args.map((entry) => {
        const [key = '', ...rest] = str(entry, `${name}.build.args entry`).split('=');
        return [key, rest.join('=')];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(obj(args, `${name}.build.args`)).map(([key, value]) => [key, String(value)]),
  );
}

/** The Warden service a compose service builds: the one Dockerfile, with its SERVICE build arg. */
function builtService(svc: Obj, name: string): string | null {
  if (svc['build'] === undefined) return null;
  const build = obj(svc['build'], `${name}.build`);
  assert.equal(build['dockerfile'], dockerfilePath, `${name}: builds ${dockerfilePath}`);
  return str(buildArgs(build, name)['SERVICE'], `${name}.build.args.SERVICE`);
}

type Instruction = { op: string; args: string };

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return logical
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

type Stage = { from: string; name: string | null; body: Instruction[] };

function stages(text: string): Stage[] {
  const result: Stage[] = [];
  for (const ins of instructions(text)) {
    if (ins.op === 'FROM') {
      const [from = '', as, name] = ins.args.replace(/--platform=\S+\s+/, '').split(/\s+/);
      result.push({ from, name: as?.toUpperCase() === 'AS' ? (name ?? null) : null, body: [] });
    } else {
      const current = result.at(-1);
      assert.ok(current, `${ins.op} before the first FROM`);
      current.body.push(ins);
    }
  }
  return result;
}

/** The stages of the one Dockerfile, by name where they have one, the final stage last. */
const dockerStages = (): Stage[] => stages(read(dockerfilePath));
const finalStage = (): Stage => {
  const last = dockerStages().at(-1);
  assert.ok(last, `${dockerfilePath} has a stage`);
  return last;
};

/** The workspace globs of the root package.json, e.g. `libs/*`. */
const workspaceGlobs = (): string[] =>
  list(packageJson('.')['workspaces'], 'workspaces').map((w) => str(w, 'workspace'));
const matchesGlob = (glob: string, path: string): boolean =>
  new RegExp(`^${glob.replaceAll('.', '\\.').replaceAll('*', '[^/]+')}$`).test(path);

/** The SERVICE build argument as the Dockerfile expands it. */
const SERVICE = /\$\{?SERVICE\}?/;

/** Every @warden/* workspace a package depends on, directly or through another one, as folders. */
function wardenDependencyDirs(dir: string): string[] {
  const byName = new Map<string, string>();
  for (const parent of ['libs', 'services']) {
    for (const d of readdirSync(join(root, parent))) {
      if (existsSync(join(root, parent, d, 'package.json')))
        byName.set(str(packageJson(join(parent, d))['name'], `${parent}/${d} name`), `${parent}/${d}`);
    }
  }
  const found = new Set<string>();
  const visit = (current: string): void => {
    const deps = obj(packageJson(current)['dependencies'] ?? {}, `${current} dependencies`);
    for (const dep of Object.keys(deps).filter((d) => d.startsWith('@warden/'))) {
      const depDir = byName.get(dep);
      assert.ok(depDir, `${current} depends on ${dep}, which is no workspace`);
      if (!found.has(depDir)) {
        found.add(depDir);
        visit(depDir);
      }
    }
  };
  visit(dir);
  return [...found].sort();
}

describe('docker-compose.yml', () => {
  it('parses, and every service has an image or a build', () => {
    assert.ok(Object.keys(composeServices).length > 0, 'compose has services');
    for (const [name, value] of Object.entries(composeServices)) {
      const svc = obj(value, `service ${name}`);
      assert.ok(svc['image'] !== undefined || svc['build'] !== undefined, `${name} has image or build`);
    }
  });

  it('builds each service from the one Dockerfile with the repository root as context', () => {
    for (const [name, value] of Object.entries(composeServices)) {
      const svc = obj(value, `service ${name}`);
      if (svc['build'] === undefined) continue;
      const build = obj(svc['build'], `${name}.build`);
      assert.equal(build['context'], '.', `${name}: build context is the repository root`);
      const file = str(build['dockerfile'], `${name}.build.dockerfile`);
      assert.ok(existsSync(join(root, file)), `${name}: ${file} exists`);
    }
  });

  it('has one compose service per service that does something, named after it, and no other builds', () => {
    assert.ok(runningServices.length > 0, 'services/ has services beyond the placeholders');
    const built = Object.entries(composeServices)
      .map(([name, value]) => [name, builtService(obj(value, name), name)] as const)
      .filter((entry): entry is readonly [string, string] => entry[1] !== null);
    assert.deepEqual(built.map(([, target]) => target).sort(), runningServices, 'one build per service');
    for (const [name, target] of built)
      assert.equal(name, target, `compose service ${name} builds SERVICE=${target}`);
    assert.deepEqual(
      [...generatorComposeServices].sort(),
      runningServices,
      'generate.ts names the same services (its service principals are the folders of services/)',
    );
  });

  it(`marks as boot-only ("${bootOnlyMarker}") exactly the services whose start does nothing`, () => {
    for (const name of wardenServices) {
      const spec = read(join('services', name, 'src', 'spec.ts'));
      const doesNothing = /start:\s*async\s*\(\)\s*=>\s*\(\{\}\)/.test(spec);
      assert.equal(
        isBootOnly(name),
        doesNothing,
        doesNothing
          ? `services/${name} only boots: its package.json description starts with "${bootOnlyMarker}"`
          : `services/${name} does something: its description no longer says "${bootOnlyMarker}"`,
      );
    }
  });

  it('leaves the boot-only placeholders out, services and seeds', () => {
    const secrets = Object.values(obj(compose['secrets'], 'secrets')).map((s) =>
      str(obj(s, 'secret')['file'], 'secret file'),
    );
    for (const name of bootOnlyServices) {
      assert.equal(composeServices[name], undefined, `${name} is not a compose service`);
      assert.ok(
        !secrets.some((file) => resolve(root, file) === join(credsDir, `${name}.nk`)),
        `${name}'s seed is no compose secret`,
      );
    }
  });

  it('runs only the infrastructure from images, with pinned tags that match tools/go.mod', () => {
    const images = Object.entries(composeServices)
      .filter(([, value]) => obj(value, 'service')['build'] === undefined)
      .map(([name, value]) => [name, str(obj(value, name)['image'], `${name}.image`)] as const);
    assert.deepEqual(images.map(([name]) => name).sort(), ['nats', 'redis', 'victoria-metrics']);
    for (const [name, image] of images) {
      const tag = image.split(':')[1];
      assert.ok(tag && tag !== 'latest', `${name}: ${image} has a pinned tag`);
    }
    const natsVersion = goModVersion('github.com/nats-io/nats-server/v2').slice(1);
    assert.match(str(service('nats')['image'], 'nats.image'), new RegExp(`^nats:${natsVersion}-alpine$`));
    const vmVersion = goModVersion('github.com/VictoriaMetrics/VictoriaMetrics');
    assert.equal(service('victoria-metrics')['image'], `victoriametrics/victoria-metrics:${vmVersion}`);
    assert.match(str(service('redis')['image'], 'redis.image'), /^redis:7(\.\d+)*(-alpine)?$/);
  });

  it('configures nats from the generated file, with JetStream data on a named volume', () => {
    const nats = service('nats');
    const volumes = list(nats['volumes'], 'nats.volumes').map((v) => str(v, 'nats volume'));
    const configMount = volumes.find((v) => v.startsWith('./deploy/compose/nats.conf:'));
    assert.ok(configMount, 'deploy/compose/nats.conf is mounted');
    assert.ok(configMount.endsWith(':ro'), 'deploy/compose/nats.conf is mounted read-only');
    const configPath = configMount.split(':')[1] ?? '';
    const command = list(nats['command'], 'nats.command').map(String);
    assert.ok(command.includes(configPath), `nats-server reads ${configPath}`);
    const dataMount = volumes.find((v) => !v.startsWith('.') && !v.startsWith('/'));
    assert.ok(dataMount, 'nats has a named volume');
    const [volume = '', target = ''] = dataMount.split(':');
    assert.ok(volume in obj(compose['volumes'], 'volumes'), `${volume} is a declared volume`);
    const storeDir = str(
      obj(composeNatsConfig(new Map())['jetstream'], 'jetstream')['store_dir'],
      'jetstream.store_dir',
    );
    assert.ok(
      storeDir.startsWith(`${target}/`),
      `the JetStream store ${storeDir} is on the volume at ${target}`,
    );
    assert.ok(nats['healthcheck'], 'nats has a healthcheck (services wait for it)');
    const redis = service('redis');
    assert.ok(
      list(redis['command'], 'redis.command').join(' ').includes('--appendonly yes'),
      'redis appendonly',
    );
  });

  it("points the agent at the CA's CRLs, served over HTTP on the compose network", () => {
    const ca = environment(service('ca'), 'ca');
    const agent = environment(service('agent'), 'agent');
    assert.equal(ca['WARDEN_CA_HTTP_HOST'], '0.0.0.0', 'the CA serves HTTP beyond its own loopback');
    const url = new URL(str(agent['WARDEN_AGENT_CRL_URL'], 'agent WARDEN_AGENT_CRL_URL'));
    assert.equal(url.hostname, 'ca');
    assert.equal(url.port, ca['WARDEN_CA_HTTP_PORT']);
    assert.equal(url.pathname, '/v1/crl.pem');
  });

  it('keeps telemetry-ingest on its loopback, as it has no SVID to listen beyond it with', () => {
    const env = environment(service('telemetry-ingest'), 'telemetry-ingest');
    const config = ingestConfig.parse(env);
    assert.deepEqual(listenerProblems(config), []);
  });

  for (const name of runningServices) {
    describe(`service ${name}`, () => {
      const svc = (): Obj => service(name);

      it('has a healthcheck on /readyz and restarts unless stopped', () => {
        const test = obj(svc()['healthcheck'], `${name}.healthcheck`)['test'];
        const command = Array.isArray(test) ? test.join(' ') : str(test, `${name}.healthcheck.test`);
        assert.match(command, /\/readyz\b/);
        assert.equal(svc()['restart'], 'unless-stopped');
      });

      it('waits for nats to be healthy', () => {
        const dependsOn = obj(svc()['depends_on'], `${name}.depends_on`);
        assert.equal(obj(dependsOn['nats'], `${name}.depends_on.nats`)['condition'], 'service_healthy');
      });

      it('reaches nats on the compose network and serves its ops endpoints on every interface', () => {
        const env = environment(svc(), name);
        assert.equal(env['WARDEN_NATS_URL'], 'nats://nats:4222');
        assert.equal(env['WARDEN_HTTP_HOST'], '0.0.0.0');
        assert.equal(env['WARDEN_HTTP_PORT'], '9464');
      });

      it(`keeps its state, if any, on a named volume at the image's /var/lib/warden/${name}`, () => {
        const volumes = ((svc()['volumes'] as unknown[] | undefined) ?? []).map((v) =>
          str(v, `${name} volume`),
        );
        for (const volume of volumes) {
          const [source = '', target = ''] = volume.split(':');
          assert.ok(source in obj(compose['volumes'], 'volumes'), `${source} is a declared named volume`);
          assert.equal(
            target,
            `/var/lib/warden/${name}`,
            `${name} mounts ${source} where the image prepares it`,
          );
        }
      });

      it('reads its own nkey seed, mounted read-only from the file generate.ts writes', () => {
        const env = environment(svc(), name);
        const seedPath = env['WARDEN_NATS_SEED_FILE'];
        assert.ok(seedPath, 'WARDEN_NATS_SEED_FILE is set');
        const secrets = list(svc()['secrets'], `${name}.secrets`).map((s) => obj(s, `${name} secret`));
        const mounted = secrets.find((s) => {
          const target = str(s['target'] ?? s['source'], 'secret target');
          return (target.startsWith('/') ? target : `/run/secrets/${target}`) === seedPath;
        });
        assert.ok(mounted, `a secret is mounted at ${seedPath}`);
        const source = str(mounted['source'], 'secret source');
        const file = str(obj(obj(compose['secrets'], 'secrets')[source], `secret ${source}`)['file'], 'file');
        assert.equal(resolve(root, file), join(credsDir, `${name}.nk`), `${source} is this service's seed`);
        const users = Object.entries(composeServices).filter(([, other]) =>
          (obj(other, 'service')['secrets'] as unknown[] | undefined)?.some(
            (s) => obj(s, 'secret')['source'] === source,
          ),
        );
        assert.deepEqual(
          users.map(([user]) => user),
          [name],
          `${source} is mounted by ${name} alone`,
        );
      });
    });
  }
});

describe(`the services' one Dockerfile, ${dockerfilePath}`, () => {
  it('replaces the Dockerfiles of each service', () => {
    for (const name of wardenServices)
      assert.ok(
        !existsSync(join(root, 'services', name, 'Dockerfile')),
        `services/${name}/Dockerfile is gone`,
      );
  });

  it(`bases its node stages on node ${nodeMajor}, the major of package.json engines, slim`, () => {
    assert.ok(Number.isInteger(nodeMajor), 'package.json engines names a node major');
    const nodeStages = dockerStages().filter((s) => s.from.startsWith('node:'));
    assert.ok(nodeStages.length >= 2, 'a build stage and a runtime stage on node');
    for (const stage of nodeStages)
      assert.match(stage.from, new RegExp(`^node:${nodeMajor}(\\.[\\d.]+)?-slim$`));
    assert.match(finalStage().from, /^node:/, 'the final stage runs on node');
  });

  it('declares the SERVICE build argument in every stage that uses it, before the use', () => {
    for (const stage of dockerStages()) {
      const declared = stage.body.findIndex((i) => i.op === 'ARG' && /^SERVICE(=|$)/.test(i.args));
      const used = stage.body.findIndex((i) => i.op !== 'ARG' && SERVICE.test(i.args));
      if (used >= 0)
        assert.ok(declared >= 0 && declared < used, `stage ${stage.name ?? stage.from} declares ARG SERVICE`);
    }
    assert.ok(
      finalStage().body.some((i) => i.op === 'ARG' && /^SERVICE(=|$)/.test(i.args)),
      'the final stage takes SERVICE',
    );
  });

  it('installs production dependencies of services/$SERVICE only, from the lockfile, refusing an unknown SERVICE', () => {
    const body = dockerStages().flatMap((s) => s.body);
    const install = body.find((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args));
    assert.ok(install, 'npm ci runs');
    assert.match(install.args, /--omit=dev\b/);
    assert.match(install.args, /--workspace[= ]"?services\/\$\{?SERVICE\}?"?(\s|$)/);
    assert.match(install.args, /--include-workspace-root=false\b/);
    assert.match(
      install.args,
      /-f "?services\/\$\{?SERVICE\}?\/package\.json"?.*exit 1/,
      'the build stops when SERVICE names no folder of services/',
    );
  });

  it("copies every workspace manifest before npm ci, with no list of a service's dependencies", () => {
    const body = dockerStages().flatMap((s) => s.body);
    const installAt = body.findIndex((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args));
    const manifests = body
      .slice(0, installAt)
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from='))
      .flatMap((i) => {
        const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
        return words.slice(0, -1);
      });
    for (const file of ['package.json', 'package-lock.json'])
      assert.ok(manifests.includes(file), `${file} is copied before npm ci`);
    for (const glob of workspaceGlobs())
      assert.ok(
        manifests.includes(`${glob}/package.json`),
        `every workspace ${glob}: ${glob}/package.json is copied`,
      );
    const parents = body.find((i) => i.op === 'COPY' && i.args.includes('package-lock.json'));
    assert.match(parents?.args ?? '', /--parents\b/, 'the manifests keep their folders (COPY --parents)');
    // What any service needs is among them, whichever workspaces it depends on.
    for (const name of wardenServices)
      for (const dir of [...wardenDependencyDirs(join('services', name)), `services/${name}`])
        assert.ok(
          workspaceGlobs().some((glob) => matchesGlob(glob, dir)),
          `${dir}, which ${name} needs, is a workspace whose package.json is copied`,
        );
    const copied = body.filter((i) => i.op === 'COPY').map((i) => i.args);
    for (const copy of copied)
      assert.doesNotMatch(copy, /services\/[a-z]/, `no COPY names a service (${copy}): SERVICE does`);
  });

  it('copies the libraries and the sources of services/$SERVICE, tests left out by .dockerignore', () => {
    const copies = dockerStages()
      .flatMap((s) => s.body)
      .filter((i) => i.op === 'COPY')
      .map((i) => i.args);
    assert.ok(
      copies.some((c) => /^libs\/ /.test(c)),
      'libs/ is copied',
    );
    assert.ok(
      copies.some((c) => /^services\/\$\{?SERVICE\}?\/ services\/\$\{?SERVICE\}?\/$/.test(c)),
      'services/$SERVICE/ is copied',
    );
  });

  it('runs src/main.ts of services/$SERVICE as a non-root user, with a healthcheck on /readyz', () => {
    const body = finalStage().body;
    const user = body.findLast((i) => i.op === 'USER');
    assert.ok(user, 'the final stage sets USER');
    assert.doesNotMatch(user.args, /^(root|0)(:|$)/, 'USER is not root');
    const workdir = body.findLast((i) => i.op === 'WORKDIR');
    assert.match(
      workdir?.args ?? '',
      /^\/app\/services\/\$\{?SERVICE\}?$/,
      'it runs in /app/services/$SERVICE',
    );
    const cmd = body.findLast((i) => i.op === 'CMD');
    assert.ok(cmd, 'the final stage has a CMD');
    assert.deepEqual(JSON.parse(cmd.args), ['node', 'src/main.ts']);
    for (const name of wardenServices)
      assert.ok(
        existsSync(join(root, 'services', name, 'src', 'main.ts')),
        `services/${name}/src/main.ts exists`,
      );
    const healthcheck = body.findLast((i) => i.op === 'HEALTHCHECK');
    assert.ok(healthcheck, 'the final stage has a HEALTHCHECK');
    assert.match(healthcheck.args, /fetch\(.*\/readyz/);
  });

  it('gives each service /var/lib/warden/$SERVICE, owned by the user it runs as', () => {
    const body = finalStage().body;
    const user = body.findLast((i) => i.op === 'USER')?.args ?? '';
    const install = body.find((i) => i.op === 'RUN' && /\binstall -d\b/.test(i.args));
    assert.ok(install, 'a RUN creates the state directory');
    assert.match(install.args, /"?\/var\/lib\/warden\/\$\{?SERVICE\}?"?$/);
    assert.match(install.args, new RegExp(`-o ${user.split(':')[0]}\\b`), `owned by ${user}`);
  });

  it('gives the policy image, and it alone, the opa binary built at the version tools/go.mod pins', () => {
    const all = dockerStages();
    const version = goModVersion('github.com/open-policy-agent/opa');
    const builder = all.find((s) =>
      s.body.some(
        (i) =>
          i.op === 'RUN' &&
          new RegExp(
            `go install .*github\\.com/open-policy-agent/opa@${version.replaceAll('.', '\\.')}\\b`,
          ).test(i.args),
      ),
    );
    assert.ok(builder, `a stage runs go install github.com/open-policy-agent/opa@${version}`);
    assert.match(builder.from, /^golang:1\.26\b/);
    assert.ok(builder.name, 'the opa stage is named');
    const run = builder.body.find((i) => i.op === 'RUN' && /go install/.test(i.args));
    assert.match(
      run?.args ?? '',
      /if \[ "\$\{?SERVICE\}?" = "?policy"? \]; then .*go install/,
      'opa is built for SERVICE=policy only',
    );
    assert.ok(existsSync(join(root, 'services', 'policy', 'package.json')), 'services/policy exists');
    assert.ok(
      finalStage().body.some(
        (i) =>
          i.op === 'COPY' &&
          i.args.startsWith(`--from=${builder.name} `) &&
          / \/usr\/local\/bin\/?$/.test(i.args),
      ),
      'the final stage copies what the opa stage built (opa, or nothing) to /usr/local/bin',
    );
  });

  it('is the Dockerfile deploy/README.md documents', () => {
    const readme = read('deploy/README.md');
    assert.ok(readme.includes(`-f ${dockerfilePath}`), `deploy/README.md builds with -f ${dockerfilePath}`);
    assert.ok(readme.includes('SERVICE='), 'deploy/README.md shows the SERVICE build argument');
    assert.doesNotMatch(readme, /services\/[^/\s]+\/Dockerfile/, 'no per-service Dockerfile is documented');
  });

  it('shares a .dockerignore that keeps dependencies, tools, state, history and secrets out', () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    for (const required of [
      '.git',
      '.nx',
      '.tools',
      '.warden',
      '**/*.test.ts',
      '**/testdata',
      'deploy/compose/creds',
      'deploy/compose/nats.conf',
      'deploy/compose/ca.env',
    ]) {
      assert.ok(patterns.includes(required), `.dockerignore excludes ${required}`);
    }
    assert.ok(
      patterns.includes('**/node_modules') || patterns.includes('node_modules'),
      '.dockerignore excludes node_modules',
    );
  });
});

describe('deploy/compose/generate.ts', () => {
  it('writes a nats.conf for containers and seeds the services can read, keeping the others private', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-compose-'));
    try {
      const { configFile, credentials } = generate(dir);
      const config = obj(JSON.parse(readFileSync(configFile, 'utf8')), 'nats.conf');
      assert.equal(config['host'], '0.0.0.0');
      assert.equal(config['port'], 4222);
      assert.equal(config['http'], '0.0.0.0:8222');
      assert.equal(obj(config['jetstream'], 'jetstream')['store_dir'], '/data/jetstream');
      const accounts = obj(config['accounts'], 'accounts');
      const users = Object.values(accounts).flatMap((account) =>
        list(obj(account, 'account')['users'], 'users'),
      );
      assert.equal(users.length, credentials.size, 'one nkey user per identity, each in its account');
      const mode = (file: string): number => statSync(file).mode & 0o777;
      assert.equal(mode(join(dir, 'creds')), 0o700, 'the creds folder is private to the host user');
      for (const name of wardenServices) assert.equal(mode(join(dir, 'creds', `${name}.nk`)), 0o644, name);
      for (const name of ['admin', 'user']) assert.equal(mode(join(dir, 'creds', `${name}.nk`)), 0o600, name);
      const again = generate(dir);
      assert.deepEqual(
        [...again.credentials.values()].map((c) => c.publicKey),
        [...credentials.values()].map((c) => c.publicKey),
        'a second run keeps the seeds',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is what git ignores', () => {
    const ignored = read('deploy/compose/.gitignore')
      .split('\n')
      .map((line) => line.trim());
    assert.ok(ignored.includes('creds/'), 'creds/ is ignored');
    assert.ok(ignored.includes('nats.conf'), 'nats.conf is ignored');
  });
});

describe('deploy/kubernetes', () => {
  // tools/cmd/manifest-check (make test-manifests) renders every kustomization, decodes it strictly
  // and checks probes, limits, pod security, NetworkPolicies and disruption budgets. Here: that the
  // base runs every service of the workspace, and that what it references exists.
  const dir = join(root, 'deploy', 'kubernetes', 'base');
  const files = (): string[] =>
    readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
      .sort();
  const manifests = (): Obj[] =>
    files().flatMap((f) =>
      parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((doc, i) => {
        assert.deepEqual(doc.errors, [], `${f} document ${i} parses`);
        const value = obj(doc.toJS(), `${f} document ${i}`);
        assert.ok(value['apiVersion'] && value['kind'], `${f} document ${i} has apiVersion and kind`);
        str(obj(value['metadata'], `${f} document ${i} metadata`)['name'], `${f} document ${i} name`);
        return value;
      }),
    );
  const metadata = (m: Obj): Obj => obj(m['metadata'], 'metadata');
  const name = (m: Obj): string => str(metadata(m)['name'], 'name');
  const namespaceOf = (m: Obj): string =>
    str(metadata(m)['namespace'], `${String(m['kind'])} ${name(m)} namespace`);
  const podSpec = (m: Obj): Obj =>
    obj(obj(obj(m['spec'], 'spec')['template'], 'template')['spec'], `${name(m)} pod spec`);
  const workloads = (): Obj[] =>
    manifests().filter((m) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(String(m['kind'])));

  /** Every Secret or ConfigMap (and its keys) a workload mounts or reads into its environment. */
  function references(
    m: Obj,
  ): { kind: 'Secret' | 'ConfigMap'; namespace: string; name: string; key?: string }[] {
    const pod = podSpec(m);
    const namespace = namespaceOf(m);
    const found: { kind: 'Secret' | 'ConfigMap'; namespace: string; name: string; key?: string }[] = [];
    for (const v of ((pod['volumes'] as unknown[] | undefined) ?? []).map((v) => obj(v, 'volume'))) {
      const source = (v['secret'] ?? v['configMap']) as Obj | undefined;
      if (!source) continue;
      const kind = v['secret'] ? 'Secret' : 'ConfigMap';
      const refName = str(source['secretName'] ?? source['name'], `${name(m)} volume ${String(v['name'])}`);
      const items = ((source['items'] as unknown[] | undefined) ?? []).map((i) =>
        str(obj(i, 'item')['key'], 'key'),
      );
      if (items.length === 0) found.push({ kind, namespace, name: refName });
      for (const key of items) found.push({ kind, namespace, name: refName, key });
    }
    for (const c of list(pod['containers'], 'containers').map((c) => obj(c, 'container'))) {
      for (const e of ((c['env'] as unknown[] | undefined) ?? []).map((e) => obj(e, 'env'))) {
        const from = e['valueFrom'] as Obj | undefined;
        const ref = (from?.['secretKeyRef'] ?? from?.['configMapKeyRef']) as Obj | undefined;
        if (!ref) continue;
        found.push({
          kind: from?.['secretKeyRef'] ? 'Secret' : 'ConfigMap',
          namespace,
          name: str(ref['name'], 'ref name'),
          key: str(ref['key'], 'ref key'),
        });
      }
    }
    return found;
  }

  it('lists every manifest of the base in its kustomization', () => {
    const kustomization = obj(parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')), 'kustomization');
    const resources = list(kustomization['resources'], 'resources').map(String).sort();
    assert.deepEqual(resources, files());
  });

  it('puts everything namespaced in a Namespace it declares', () => {
    const declared = manifests()
      .filter((m) => m['kind'] === 'Namespace')
      .map(name);
    for (const m of manifests().filter(
      (m) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(String(m['kind'])),
    ))
      assert.ok(
        declared.includes(namespaceOf(m)),
        `${String(m['kind'])} ${name(m)} is in a declared namespace`,
      );
  });

  it('runs every service of the workspace from its image, the agent as a DaemonSet', () => {
    const byName = new Map(workloads().map((w) => [name(w), w]));
    for (const service of wardenServices) {
      const w = byName.get(`warden-${service}`);
      assert.ok(w, `a workload warden-${service}`);
      assert.equal(w['kind'], service === 'agent' ? 'DaemonSet' : 'Deployment', `warden-${service} kind`);
      const containers = list(podSpec(w)['containers'], 'containers').map((c) => obj(c, 'container'));
      assert.equal(containers.length, 1, `warden-${service} has one container`);
      assert.match(str((containers[0] as Obj)['image'], 'image'), new RegExp(`^warden/${service}:\\d`));
    }
  });

  it("mounts each service's own nkey seed read-only from its own Secret, where WARDEN_NATS_SEED_FILE says", () => {
    for (const service of wardenServices) {
      const w = workloads().find((m) => name(m) === `warden-${service}`);
      assert.ok(w, `warden-${service}`);
      const pod = podSpec(w);
      const container = obj(list(pod['containers'], 'containers')[0], 'container');
      const env = list(container['env'], 'env').map((e) => obj(e, 'env'));
      const seedFile = str(
        env.find((e) => e['name'] === 'WARDEN_NATS_SEED_FILE')?.['value'],
        'WARDEN_NATS_SEED_FILE',
      );
      const mount = list(container['volumeMounts'], 'volumeMounts')
        .map((m) => obj(m, 'volumeMount'))
        .find((m) => seedFile.startsWith(`${str(m['mountPath'], 'mountPath')}/`));
      assert.ok(mount, `${seedFile} is on a mounted volume`);
      assert.equal(mount['readOnly'], true);
      const volume = list(pod['volumes'], 'volumes')
        .map((v) => obj(v, 'volume'))
        .find((v) => v['name'] === mount['name']);
      assert.equal(obj(volume?.['secret'], 'secret volume')['secretName'], `warden-${service}-nkey`);
    }
  });

  it('references only Secrets and ConfigMaps that the base declares, secrets.ts writes or the operator is told to create, with their keys', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'warden-k8s-'));
    try {
      const generated = kubernetesSecrets(tmp);
      const available = [
        ...[...manifests(), ...(generated as unknown as Obj[])]
          .filter((m) => m['kind'] === 'Secret' || m['kind'] === 'ConfigMap')
          .map((m) => ({
            id: `${String(m['kind'])} ${namespaceOf(m)}/${name(m)}`,
            keys: Object.keys({
              ...((m['data'] as Obj | undefined) ?? {}),
              ...((m['stringData'] as Obj | undefined) ?? {}),
            }),
          })),
        ...operatorSecrets.map((s) => ({
          id: `Secret ${s.namespace}/${s.name}`,
          keys: [...s.keys] as string[],
        })),
      ];
      for (const w of workloads())
        for (const ref of references(w)) {
          const id = `${ref.kind} ${ref.namespace}/${ref.name}`;
          const found = available.find((a) => a.id === id);
          assert.ok(found, `${name(w)} references ${id}, which exists`);
          if (ref.key)
            assert.ok(found.keys.includes(ref.key), `${id} has the key ${ref.key} ${name(w)} reads`);
        }
      for (const m of generated.filter((m) => m.kind === 'Secret'))
        assert.ok(
          workloads().some((w) =>
            references(w).some((r) => r.kind === 'Secret' && r.name === m.metadata.name),
          ),
          `secrets.ts writes ${m.metadata.name}, which a workload uses`,
        );
      const again = kubernetesSecrets(tmp);
      assert.deepEqual(again, generated, 'a second run keeps the key material');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('keeps the generated key material out of git and out of images', () => {
    const ignored = read('deploy/kubernetes/.gitignore')
      .split('\n')
      .map((line) => line.trim());
    assert.ok(ignored.includes('creds/'), 'creds/ is ignored');
    assert.ok(credsDirK8s.startsWith(join(root, 'deploy', 'kubernetes')));
    assert.ok(read('.dockerignore').split('\n').includes('deploy/kubernetes/creds'));
  });
});
