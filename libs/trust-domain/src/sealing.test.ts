import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KmsError } from './errors.ts';
import { decodeKek, localKms, readKekFile } from './sealing.ts';

const isKms = (code: string) => (err: unknown) => err instanceof KmsError && err.code === code;

describe('local KMS (AES-256-GCM under the KEK)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-kms-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('opens what it sealed, only with the same KEK, context and untouched bytes', async () => {
    const kms = localKms(randomBytes(32));
    const secret = randomBytes(200);
    const box = await kms.seal(secret, 'ctx-a');
    assert.deepEqual(await kms.open(box, 'ctx-a'), secret);
    assert.notEqual((await kms.seal(secret, 'ctx-a')).iv, box.iv, 'a fresh IV per seal');
    await assert.rejects(kms.open(box, 'ctx-b'), isKms('unseal_failed'));
    const ct = Buffer.from(box.ct, 'base64');
    ct[0] = (ct[0] ?? 0) ^ 1;
    await assert.rejects(kms.open({ ...box, ct: ct.toString('base64') }, 'ctx-a'), isKms('unseal_failed'));
    const other = localKms(randomBytes(32));
    await assert.rejects(other.open(box, 'ctx-a'), isKms('wrong_kek'));
    await assert.rejects(other.open({ ...box, kid: other.keyId }, 'ctx-a'), isKms('unseal_failed'));
  });

  it('accepts only 32-byte base64 KEKs, and KEK files no one else can read', () => {
    assert.throws(() => localKms(randomBytes(16)), isKms('kek_invalid'));
    assert.equal(decodeKek(randomBytes(32).toString('base64'), 'env').length, 32);
    assert.throws(() => decodeKek('not base64!', 'env'), isKms('kek_invalid'));
    assert.throws(() => decodeKek(randomBytes(31).toString('base64'), 'env'), isKms('kek_invalid'));

    const file = join(dir, 'kek');
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    assert.equal(readKekFile(file).length, 32);
    chmodSync(file, 0o644);
    assert.throws(() => readKekFile(file), isKms('kek_invalid'));
    assert.throws(() => readKekFile(join(dir, 'missing')), isKms('kek_invalid'));
    const big = join(dir, 'big');
    writeFileSync(big, 'A'.repeat(10_000), { mode: 0o600 });
    assert.throws(() => readKekFile(big), isKms('kek_invalid'));
  });
});
