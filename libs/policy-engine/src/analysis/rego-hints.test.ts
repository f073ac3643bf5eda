import assert from 'node:assert/strict';
import { test } from 'node:test';
import { translators } from '../translate.ts';
import { hintUnsafeVariables, variableColumn } from './rego-hints.ts';

const opa = new URL('../../../../.tools/bin/opa', import.meta.url).pathname;

// Request fields written without their input path, as a newcomer to OPA-Envoy writes them.
const module = `package envoy.authz

import rego.v1

default allow := false

allow if {
	input.attributes.request.http.method == "GET"
	startswith(path, "/public")
}

allow if {
	"x" == "path"
	token := bearer
	token == "secret"
}
`;

test('an unsafe variable is reported at its own column, with the OPA-Envoy input path', async () => {
  const result = await translators.rego({ text: module, file: 'authz.rego' }, { opa });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.deepEqual(
    result.issues.map((i) => [i.code, i.line, i.column]),
    [
      ['rego_unsafe_var_error', 9, 13],
      ['rego_unsafe_var_error', 14, 11],
    ],
  );
  assert.equal(
    result.issues[0]?.message,
    "var path is unsafe; OPA-Envoy's input has it at input.attributes.request.http.path (or import it: import input.attributes.request.http.path as path)",
  );
  assert.match(
    result.issues[1]?.message ?? '',
    /^var bearer is unsafe; an OPA-Envoy policy reads the request from input\.attributes\.\*/,
  );
});

test('the variable is found outside strings and field accesses', () => {
  assert.equal(variableColumn('\tx := "path" + input.path + path', 'path', 1), 29);
  assert.equal(variableColumn('\t# path only in a comment', 'path', 1), undefined);
  const issue = { code: 'rego_unsafe_var_error', message: 'var q is unsafe', line: 1, column: 1, path: '' };
  assert.deepEqual(hintUnsafeVariables('no such variable', [issue])[0]?.column, 1);
  const other = { ...issue, code: 'rego_type_error', message: 'x' };
  assert.deepEqual(hintUnsafeVariables('x', [other]), [other]);
});
