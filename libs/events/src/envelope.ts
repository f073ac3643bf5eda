import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isoTime } from './validate.ts';

/**
 * Every event carries these four fields beside its payload (ARCHITECTURE §2). The payload sits under
 * `data`, CloudEvents-style, so one envelope schema serves every subject.
 */
export const envelopeFields = {
  id: z.string().min(1).max(128),
  time: isoTime,
  source: z.string().min(1).max(256),
  schema: z.string().min(1).max(128),
};

export type Envelope<T> = {
  id: string;
  time: string;
  source: string;
  schema: string;
  data: T;
};

export function newEnvelope<T>(schema: string, source: string, data: T): Envelope<T> {
  return { id: randomUUID(), time: new Date().toISOString(), source, schema, data };
}
