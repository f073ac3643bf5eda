import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_ROOT_NAMESPACE } from './authz/model.ts';
import { bundleKinds } from './bundle.ts';
import { UnknownKindError } from './errors.ts';
import { declaredKind, translatorFor, translators } from './translate.ts';

const allowGet = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-get, namespace: shop }
spec:
  action: ALLOW
  rules:
    - to: [{ operation: { methods: ["GET"] } }]
`;

describe('translators', () => {
  it('has one translator per kind, and none for an unknown kind', () => {
    assert.deepEqual(Object.keys(translators).sort(), [...bundleKinds].sort());
    for (const kind of bundleKinds) assert.equal(translatorFor(kind), translators[kind]);
    assert.equal(translatorFor('python'), undefined);
    assert.equal(translatorFor('toString'), undefined);
  });

  it('translates AuthorizationPolicies one bundle each, keyed by namespace and name', async () => {
    const result = await translators['authorization-policy']({ text: allowGet, file: 'p.yaml' }, {});
    assert.ok(result.ok);
    assert.deepEqual(
      result.policies.map((p) => [p.bundle.kind, p.namespace, p.name]),
      [['authorization-policy', 'shop', 'allow-get']],
    );
    const empty = await translators['authorization-policy']({ text: '# nothing\n', file: 'p.yaml' }, {});
    assert.deepEqual(!empty.ok && empty.issues.map((i) => [i.code, i.file]), [['empty', 'p.yaml']]);
  });

  it('translates mesh defaults with the root namespace defaulted, and states every problem with its line', async () => {
    const ok = await translators['mesh-defaults']({ text: 'kind: MeshDefaults\ndefault: deny\n' }, {});
    assert.ok(ok.ok);
    assert.deepEqual(ok.policies[0]?.bundle, {
      kind: 'mesh-defaults',
      meshDefault: { rootNamespace: DEFAULT_ROOT_NAMESPACE, default: 'deny', namespaces: {} },
    });
    assert.deepEqual([ok.policies[0]?.namespace, ok.policies[0]?.name], ['mesh', 'default']);

    const bad = await translators['mesh-defaults'](
      {
        text: 'kind: Mesh\ncolour: red\ndefault: maybe\nrootNamespace: Not_A_Name\nnamespaces:\n  a: perhaps\n',
        file: 'm.yaml',
      },
      {},
    );
    assert.ok(!bad.ok);
    assert.deepEqual(
      bad.issues.map((i) => [i.code, i.line, i.file]),
      [
        ['unknown_field', 2, 'm.yaml'],
        ['schema', 1, 'm.yaml'],
        ['schema', 3, 'm.yaml'],
        ['schema', 4, 'm.yaml'],
        ['schema', 6, 'm.yaml'],
      ],
    );
    const notMapping = await translators['mesh-defaults']({ text: '- deny\n' }, {});
    assert.deepEqual(!notMapping.ok && notMapping.issues.map((i) => i.code), ['schema']);
    const broken = await translators['mesh-defaults']({ text: 'default: [deny\n' }, {});
    assert.deepEqual(!broken.ok && broken.issues[0]?.code, 'yaml');
  });

  it('refuses Rego data too deep or too large before compiling it', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const text = 'package p\nallow := true\n';
    const tooDeep = await translators.rego({ text, data: { deep } }, { opa: 'opa' });
    assert.deepEqual(!tooDeep.ok && tooDeep.issues.map((i) => [i.code, i.path]), [['data_too_deep', 'data']]);
    const tooLarge = await translators.rego(
      { text, data: { blob: 'x'.repeat(100) } },
      { opa: 'opa', limits: { maxDataBytes: 50, maxDepth: 8 } },
    );
    assert.deepEqual(!tooLarge.ok && tooLarge.issues.map((i) => i.code), ['data_too_large']);
  });

  it('loads a compiled module as decision points do: one they cannot load is never accepted', async () => {
    // A literal set large enough that the module declares more than opa-wasm's usual 5 pages.
    const names = Array.from({ length: 6000 }, (_, i) => `"workload-${i}-with-a-long-name"`).join(',');
    const text = `package big\nimport rego.v1\nnames := {${names}}\nallow if input.attributes.request.http.path in names\n`;
    const accepted = await translators.rego({ text, entrypoint: 'big/allow' }, { opa: 'opa' });
    assert.ok(accepted.ok, JSON.stringify(!accepted.ok && accepted.issues));
    const refused = await translators.rego(
      { text, entrypoint: 'big/allow' },
      { opa: 'opa', maxMemoryPages: 5 },
    );
    assert.deepEqual(!refused.ok && refused.issues.map((i) => i.code), ['rego_load_failed']);
    assert.match((!refused.ok && refused.issues[0]?.message) || '', /needs \d+ pages .* allow 5/);
  });

  it('rejects a Rego module without a package line or name', async () => {
    const result = await translators.rego({ text: 'allow := true\n', file: 'x.rego' }, { opa: 'opa' });
    assert.deepEqual(!result.ok && result.issues.map((i) => i.code), ['no_name']);
  });
});

describe('declaredKind', () => {
  it('reads the kind from the extension and the YAML kind: field', () => {
    assert.equal(declaredKind('a.rego', 'package a\n'), 'rego');
    assert.equal(declaredKind('a.yaml', `${allowGet}---\n${allowGet}`), 'authorization-policy');
    assert.equal(declaredKind('m.yml', 'kind: MeshDefaults\ndefault: allow\n'), 'mesh-defaults');
  });

  it('leaves a document with a YAML error to the translator when another states the kind', () => {
    assert.equal(declaredKind('a.yaml', `${allowGet}---\nkind: [\n`), 'authorization-policy');
  });

  it('refuses a file that states no kind, an unknown one, or two', () => {
    const cases: [string, string, RegExp][] = [
      ['m.yaml', 'default: deny\n', /m\.yaml: a document has no kind: field; .*MeshDefaults/],
      ['a.yaml', 'kind: Gateway\n', /kind "Gateway"/],
      ['a.yaml', `${allowGet}---\nkind: MeshDefaults\ndefault: deny\n`, /more than one kind/],
      ['a.yaml', '# nothing\n', /holds no policy/],
      ['a.yaml', 'kind: [\n', /^a\.yaml:\d+:\d+: /],
      ['a.json', '{}', /cannot tell its kind from \.json/],
      ['a.yaml', 'kind: toString\n', /kind "toString"/],
    ];
    for (const [file, text, message] of cases) {
      assert.throws(
        () => declaredKind(file, text),
        (err: unknown) => err instanceof UnknownKindError && message.test(err.message),
        `${file}: ${text}`,
      );
    }
  });
});
