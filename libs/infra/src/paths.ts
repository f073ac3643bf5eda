import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WardenError } from '@warden/core';

/** The repository root: this file lives in libs/infra/src. */
export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');

/** Where set-up puts the Go-built tools; WARDEN_TOOLS_BIN overrides it. */
export const toolsBin = process.env['WARDEN_TOOLS_BIN'] ?? join(repoRoot, '.tools', 'bin');

export class MissingBinaryError extends WardenError {
  constructor(name: string, looked: readonly string[]) {
    super('missing_binary', `${name} not found (looked in ${looked.join(', ')}); run 'make setup' first`);
  }
}

/** Finds a binary in the tools folder, then on PATH. */
export function binary(
  name:
    | 'nats-server'
    | 'nats'
    | 'victoria-metrics'
    | 'vmalert'
    | 'opa'
    | 'redis-server'
    | 'haproxy'
    | 'xds-validate',
): string {
  const dirs = [toolsBin, ...(process.env['PATH'] ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new MissingBinaryError(name, dirs);
}
