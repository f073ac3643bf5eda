import { execFile } from 'node:child_process';

/** `haproxy -c`: whether HAProxy accepts a configuration, with what it said. */
export function checkConfig(file: string, haproxy = 'haproxy'): Promise<{ valid: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(haproxy, ['-c', '-f', file], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ valid: !err, output: `${stdout}${stderr}`.trim() });
    });
  });
}
