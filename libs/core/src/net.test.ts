import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopbackHost } from './net.ts';

describe('isLoopbackHost', () => {
  it('knows the loopback addresses, in any spelling', () => {
    for (const host of [
      'localhost',
      'LOCALHOST',
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      '::FFFF:7f00:1',
    ])
      assert.equal(isLoopbackHost(host), true, host);
  });

  it('treats everything else as reachable from elsewhere', () => {
    for (const host of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '128.0.0.1',
      '::2',
      '::ffff:10.0.0.1',
      'detector.warden.svc',
      '127.0.0.1.nip.io',
      '',
      'localhost.',
    ])
      assert.equal(isLoopbackHost(host), false, host);
  });
});
