import { describeFileIssues, parseYamlFile } from '@warden/runtime';
import { z } from 'zod';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):\d{1,5}$/, 'an address:port such as 127.0.0.1:8443')
  .transform((text) => {
    const cut = text.lastIndexOf(':');
    return { address: text.slice(0, cut).replace(/^\[|\]$/g, ''), port: Number(text.slice(cut + 1)) };
  })
  .refine((a) => a.port >= 1 && a.port <= 65_535, 'a port 1-65535');

const terminator = z
  .object({
    /** `<namespace>/<service account>`: the workload behind it, as containment targets name it. */
    workload: z
      .string()
      .refine(
        (w) => w.split('/').length === 2 && w.split('/').every((p) => DNS_LABEL.test(p)),
        'namespace/name',
      ),
    bind: hostPort,
    backend: hostPort,
    /** The agent's folder for the workload: cert-chain.pem, key.pem, root-cert.pem, crl.pem. */
    certificateDir: z.string().min(1),
    /** Where OpenSSL looks for the QAT provider; unset: software crypto without asking. */
    qatProviderPath: z.string().min(1).optional(),
  })
  .strict();

const terminatorFile = z.object({ terminators: z.array(terminator).max(256) }).strict();

export type TerminatorSpec = z.infer<typeof terminator>;

export class TerminatorFileError extends Error {}

/** Parses and validates a terminators file; every problem is named with its line and column. */
export function parseTerminators(text: string, file: string): TerminatorSpec[] {
  const parsed = parseYamlFile(text, terminatorFile);
  if (!parsed.ok)
    throw new TerminatorFileError(describeFileIssues('invalid terminators:', file, parsed.issues));
  const seen = new Set<string>();
  for (const t of parsed.data.terminators) {
    if (seen.has(t.workload)) throw new TerminatorFileError(`${file}: ${t.workload} has two terminators`);
    seen.add(t.workload);
  }
  return parsed.data.terminators;
}
