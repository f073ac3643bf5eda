import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from '../command.ts';
import { table } from '../table.ts';

type StatusFile = {
  updatedAt: string;
  components: { name: string; state: string; pid: number | null; restarts: number; url: string }[];
};

export const stackCommands: Command[] = [
  {
    path: ['status'],
    summary: "the local stack's components, as `make up` last wrote them",
    options: { dir: { type: 'string' } },
    optionHelp: { dir: 'the stack folder (up.ts --dir); default $WARDEN_HOME/.warden' },
    async run(ctx, _positionals, values) {
      const dir = typeof values['dir'] === 'string' ? resolve(ctx.cwd, values['dir']) : ctx.wardenDir;
      const file = join(dir, 'status.json');
      let status: StatusFile;
      try {
        status = JSON.parse(readFileSync(file, 'utf8')) as StatusFile;
      } catch (err) {
        ctx.io.err(
          `no stack status at ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}): is 'make up' running?\n`,
        );
        return 1;
      }
      if (ctx.output === 'json') {
        ctx.io.out(`${JSON.stringify(status, null, 2)}\n`);
      } else {
        ctx.io.out(
          table(
            ['COMPONENT', 'STATE', 'PID', 'RESTARTS', 'URL'],
            status.components.map((c) => [c.name, c.state, String(c.pid ?? '-'), String(c.restarts), c.url]),
          ),
        );
        ctx.io.out(`as of ${status.updatedAt}\n`);
      }
      return status.components.every((c) => c.state === 'ready') ? 0 : 1;
    },
  },
];
