import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { codeOf, messageOf, WardenError } from './errors.ts';

class ExampleError extends WardenError {
  constructor() {
    super('example', 'an example', { cause: new Error('below') });
  }
}

describe('errors', () => {
  it('names each error after its class and keeps its code and cause', () => {
    const err = new ExampleError();
    assert.equal(err.name, 'ExampleError');
    assert.equal(err.code, 'example');
    assert.ok(err.cause instanceof Error);
    assert.ok(err instanceof WardenError);
  });

  it('codeOf prefers a responder code, then a code, then the fallback', () => {
    assert.equal(codeOf({ code: 'remote_error', remoteCode: 'token_used' }), 'token_used');
    assert.equal(codeOf(new ExampleError()), 'example');
    assert.equal(codeOf(Object.assign(new Error('x'), { code: 'ENOENT' })), 'ENOENT');
    assert.equal(codeOf(new Error('x')), 'internal');
    assert.equal(codeOf('text'), 'internal');
    assert.equal(codeOf(null, 'unknown'), 'unknown');
    assert.equal(codeOf({ code: 42 }), 'internal');
  });

  it('messageOf renders anything thrown as text, never [object Object]', () => {
    assert.equal(messageOf(new Error('boom')), 'boom');
    assert.equal(messageOf('plain'), 'plain');
    assert.equal(messageOf({ message: 'm', line: 3 }), '{"message":"m","line":3}');
    assert.equal(messageOf(undefined), 'undefined');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.equal(messageOf(cyclic), '[object Object]');
  });
});
