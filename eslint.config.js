import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const root = dirname(fileURLToPath(import.meta.url));

/**
 * Every workspace project with its Nx tags, read from its package.json: the tags are the one
 * statement of what a project is, and the `warden/boundaries` rule below enforces them.
 *   type:lib      never imports a service
 *   type:service  never imports another service (services meet on the bus or over gRPC)
 *   type:app      (the CLI) never imports a service
 *   scope:pure    imports no transport (NATS, gRPC, Redis) and only other scope:pure projects
 */
function readProjects() {
  const folders = ['libs', 'services']
    .flatMap((parent) => readdirSync(join(root, parent)).map((name) => join(parent, name)))
    .concat(['cli', 'deploy/local', 'bench', 'test']);
  const projects = [];
  for (const folder of folders) {
    const manifest = join(root, folder, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
    projects.push({ name: pkg.name, dir: join(root, folder), tags: new Set(pkg.nx?.tags ?? []) });
  }
  return projects;
}

const projects = readProjects();
const projectByName = new Map(projects.map((p) => [p.name, p]));
const projectOfFile = (file) => projects.find((p) => file === p.dir || file.startsWith(p.dir + sep)) ?? null;

/**
 * Packages that open a connection to NATS, a gRPC peer or Redis. `@nats-io/nkeys` only handles
 * Ed25519 keys (the audit log signs its checkpoints with them) and opens nothing.
 */
const transports = [/^@nats-io\/(?!nkeys$)/, /^@grpc\//, /^ioredis$/, /^redis$/, /^nats$/];

const packageOf = (source) =>
  source.startsWith('@') ? source.split('/').slice(0, 2).join('/') : source.split('/')[0];

const boundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'Project boundaries from the Nx tags in each package.json.' },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const own = projectOfFile(file);
    if (!own) return {};
    const check = (node, source) => {
      if (typeof source !== 'string') return;
      const report = (message) => context.report({ node, message });
      if (source.startsWith('.')) {
        const into = projectOfFile(resolve(dirname(file), source));
        if (into && into !== own)
          report(`'${source}' reaches into ${into.name} by path: import the package by its name.`);
        return;
      }
      const name = packageOf(source);
      const target = projectByName.get(name);
      // A pure lib's own tests may start real servers through @warden/testing.
      if (own.tags.has('scope:pure') && !file.endsWith('.test.ts')) {
        if (transports.some((t) => t.test(name)))
          return report(`${own.name} is pure (scope:pure): it may not import the transport ${name}.`);
        if (target && target !== own && !target.tags.has('scope:pure'))
          return report(
            `${own.name} is pure (scope:pure): it may import only pure projects, and ${name} is not.`,
          );
      }
      if (!target || target === own || !target.tags.has('type:service')) return;
      if (own.tags.has('type:lib')) report(`A lib never imports a service (${name}).`);
      else if (own.tags.has('type:service'))
        report(`Services meet on the bus or over gRPC, never by import (${name}).`);
      else if (own.tags.has('type:app'))
        report(`The CLI talks to services over the bus; it may not import ${name}.`);
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.tools/**', '.warden/**', '.nx/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { warden: { rules: { boundaries } } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use a const object and a derived union type.' },
      ],
      'warden/boundaries': 'error',
    },
  },
);
