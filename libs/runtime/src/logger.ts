import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** JSON logs to stdout, one line per record, with the service and instance on each. */
export function createLogger(options: { service: string; instance: string; level: string }): Logger {
  return pino({
    level: options.level,
    base: { service: options.service, instance: options.instance },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
