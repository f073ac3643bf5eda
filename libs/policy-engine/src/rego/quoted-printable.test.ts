import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeQuotedPrintable } from './quoted-printable.ts';

const decode = (text: string) => Buffer.from(decodeQuotedPrintable(Buffer.from(text, 'utf8')));

// Expected values are what Go's mime/quotedprintable reader gives for the same input.
test('decodes as Go does, leniencies included', () => {
  const cases: [string, Buffer][] = [
    ['a=\n', Buffer.from('a')],
    ['end=', Buffer.from('end')],
    ['x=41=42', Buffer.from('xAB')],
    ['tab\tend \r\nnext', Buffer.from('tab\tend\r\nnext')],
    ['hi=\r\nthere', Buffer.from('hithere')],
    ['=ZZ', Buffer.from('=ZZ')],
    ['é=E9', Buffer.concat([Buffer.from('é'), Buffer.from([0xe9])])],
  ];
  for (const [input, want] of cases) assert.deepEqual(decode(input), want, JSON.stringify(input));
});

test('fails where Go fails', () => {
  assert.throws(() => decode('='), /invalid bytes after =/);
  assert.throws(() => decode('=\r'), /invalid bytes after =/);
  assert.throws(() => decode('a\x7fb'), /invalid unescaped byte 0x7f/);
});
