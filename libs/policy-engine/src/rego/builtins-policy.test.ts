/**
 * Host builtins through `RegoPolicy`: a JWT role check written like OPA's Envoy tutorial decides
 * as `opa eval` does on the same input, `time.now_ns()` is the request's time, strict builtin
 * errors fail the evaluation with the builtin's name, and a policy that needs a builtin Warden
 * does not provide is rejected when compiled, with the builtin's name and position.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { promisify } from 'node:util';
import type { AuthzRequest } from '../authz/model.ts';
import { PolicyRejectedError } from '../errors.ts';
import { UnsupportedBuiltinError, findCall, importedBuiltins } from './builtins/imports.ts';
import { PROVIDED_BUILTINS } from './builtins/index.ts';
import { compileRego } from './compile.ts';
import { buildEnvoyInput } from './input.ts';
import { RegoPolicy } from './policy.ts';

const opa = new URL('../../../../.tools/bin/opa', import.meta.url).pathname;
const testdata = new URL('../../testdata/builtins/', import.meta.url);
const run = promisify(execFile);

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function hs256(payload: object, secret = 'tutorial-secret'): string {
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const now = Math.floor(Date.now() / 1000);
const guest = hs256({ sub: b64('alice'), role: 'guest', nbf: now - 60, exp: now + 3600 });
const admin = hs256({ sub: b64('bob'), role: 'admin', nbf: now - 60, exp: now + 3600 });
const expiredAdmin = hs256({ sub: b64('bob'), role: 'admin', nbf: now - 7200, exp: now - 3600 });
const forged = hs256({ sub: b64('bob'), role: 'admin', nbf: now - 60, exp: now + 3600 }, 'guessed');

const request = (method: string, path: string, token?: string, body?: string, time?: Date): AuthzRequest => ({
  destination: { namespace: 'default', ip: '10.0.0.9', port: 8080 },
  source: { principal: 'cluster.local/ns/default/sa/frontend', ip: '10.0.0.7', port: 51000 },
  http: {
    method,
    path,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body } : {}),
  },
  time: time ?? new Date(now * 1000),
});

let tutorial: RegoPolicy;
let tutorialText: string;

before(async () => {
  tutorialText = await readFile(new URL('envoy-jwt.rego', testdata), 'utf8');
  const compiled = await compileRego({ module: tutorialText, entrypoint: 'envoy/authz/allow' }, { opa });
  tutorial = await RegoPolicy.load(compiled);
});

const cases: [string, AuthzRequest, boolean][] = [
  ['guest reads people', request('GET', '/people'), false],
  ['guest reads people with a token', request('GET', '/people', guest), true],
  ['guest reads one person', request('GET', '/people/7', guest), true],
  ['guest cannot create', request('POST', '/people', guest, '{"firstname":"Carol"}'), false],
  ['admin creates someone else', request('POST', '/people', admin, '{"firstname":"Carol"}'), true],
  ['admin cannot create themself', request('POST', '/people', admin, '{"firstname":"Bob"}'), false],
  ['expired token', request('GET', '/people', expiredAdmin), false],
  ['forged signature', request('GET', '/people', forged), false],
  ['malformed token', request('GET', '/people', 'not.a.token'), false],
  // The token is checked at the request's time: two hours later it has expired.
  [
    'admin token after its expiry',
    request('GET', '/people', admin, undefined, new Date((now + 7200) * 1000)),
    false,
  ],
];

test("OPA's Envoy JWT tutorial policy decides through RegoPolicy as opa eval does", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warden-tutorial-'));
  try {
    await writeFile(join(dir, 'policy.rego'), tutorialText);
    for (const [name, req, expected] of cases) {
      const outcome = tutorial.check(req);
      assert.equal(outcome.error, undefined, name);
      assert.equal(outcome.allowed, expected, `warden: ${name}`);
      if (name.includes('after its expiry')) continue; // opa eval's now is the wall clock, not the request's
      await writeFile(join(dir, 'input.json'), JSON.stringify(buildEnvoyInput(req)));
      const { stdout } = await run(opa, [
        'eval',
        '--v0-compatible',
        '--format',
        'json',
        '-d',
        join(dir, 'policy.rego'),
        '-i',
        join(dir, 'input.json'),
        'data.envoy.authz.allow',
      ]);
      const result = JSON.parse(stdout) as { result?: { expressions: { value: unknown }[] }[] };
      assert.equal(result.result?.[0]?.expressions[0]?.value, expected, `opa eval: ${name}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('time.now_ns() is the request time, the same for every call of one evaluation', async () => {
  const module = `package t
import rego.v1
allow if {
	time.now_ns() == time.parse_rfc3339_ns("2030-06-01T12:00:00.5Z")
	time.now_ns() == time.now_ns()
	time.weekday(time.now_ns()) == "Saturday"
}
`;
  const policy = await RegoPolicy.load(await compileRego({ module, entrypoint: 't/allow' }, { opa }));
  const at = (time: string | Date) => policy.check({ ...request('GET', '/'), time }).allowed;
  assert.equal(at('2030-06-01T12:00:00.500Z'), true);
  assert.equal(at(new Date('2030-06-01T12:00:00.500Z')), true);
  assert.equal(at('2030-06-01T12:00:01Z'), false);
});

test('a failing builtin is undefined by default and fails the evaluation when strict', async () => {
  const module = `package t
import rego.v1
default allow := false
allow if time.parse_duration_ns(input.attributes.request.http.headers["x-ttl"]) > 0
allow if input.attributes.request.http.headers["x-ttl"] == "bad"
`;
  const compiled = await compileRego({ module, entrypoint: 't/allow' }, { opa });
  const lenient = await RegoPolicy.load(compiled);
  const strict = await RegoPolicy.load(compiled, { strictBuiltinErrors: true });
  const req = (ttl: string): AuthzRequest => {
    const r = request('GET', '/');
    return { ...r, http: { method: 'GET', path: '/', headers: { 'x-ttl': ttl } } };
  };
  assert.equal(lenient.check(req('5m')).allowed, true);
  // Non-strict, as OPA: the erroring expression is undefined, the other rule still decides.
  assert.deepEqual([lenient.check(req('bad')).allowed, lenient.check(req('bad')).error], [true, undefined]);
  assert.equal(lenient.check(req('5 parsecs')).allowed, false);
  const failed = strict.check(req('bad'));
  assert.equal(failed.allowed, false);
  assert.deepEqual(failed.error, {
    code: 'eval_builtin_error',
    message: 'time.parse_duration_ns: time: invalid duration "bad"',
  });
});

test('a policy that needs a builtin Warden does not provide is rejected with its name and position', async () => {
  const module = await readFile(new URL('unsupported.rego', testdata), 'utf8');
  const err = await compileRego(
    { module, entrypoint: 'envoy/authz/allow', fileName: 'gate.rego' },
    { opa },
  ).then(
    () => assert.fail('compiled'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UnsupportedBuiltinError);
  assert.ok(err instanceof PolicyRejectedError);
  assert.deepEqual(err.builtins, ['http.send', 'net.lookup_ip_addr']);
  assert.deepEqual(
    err.issues.map((i) => [i.code, i.file, i.line, i.column, i.message]),
    [
      [
        'rego_unsupported_builtin',
        'gate.rego',
        11,
        10,
        "builtin http.send is not provided by Warden's WebAssembly evaluator",
      ],
      [
        'rego_unsupported_builtin',
        'gate.rego',
        16,
        11,
        "builtin net.lookup_ip_addr is not provided by Warden's WebAssembly evaluator",
      ],
    ],
  );
  assert.match(err.message, /^gate\.rego:11:10: builtin http\.send is not provided/);
});

test('a policy using only provided builtins compiles; the module lists the host builtins it imports', async () => {
  assert.ok(PROVIDED_BUILTINS.has('io.jwt.decode_verify'));
  assert.ok(PROVIDED_BUILTINS.has('sprintf'));
  const compiled = await compileRego({ module: tutorialText, entrypoint: 'envoy/authz/allow' }, { opa });
  // glob.match, split, lower and base64url.decode are compiled into the module; these two are the host's.
  assert.deepEqual(await importedBuiltins(compiled.wasm), ['io.jwt.decode_verify', 'time.now_ns']);
});

test('findCall skips comments, strings and longer names', () => {
  const src =
    '# http.send(x)\nx := "http.send("\ny := my.http.send(1)\nz := `http.send(\n)`\nw := http.send ({})\n';
  assert.deepEqual(findCall(src, 'http.send'), { line: 6, column: 6 });
  assert.equal(findCall(src, 'net.lookup_ip_addr'), undefined);
});
