import type { EnvoyService } from './protos.ts';
import { envoyService, loadEnvoyProtos } from './protos.ts';

export const ACCESS_LOG_SERVICE = 'envoy.service.accesslog.v3.AccessLogService';

export type AccessLogService = EnvoyService;

let accessLog: AccessLogService | undefined;

/** Envoy's Access Log Service (ALS) definition, loaded on first use and shared afterwards. */
export function loadAccessLogService(): AccessLogService {
  // Without defaults: an access-log entry has some sixty fields, Envoy sets a handful, and filling
  // in the rest for every entry was a large share of ingest's time. Absent fields are undefined.
  accessLog ??= envoyService(
    loadEnvoyProtos(['envoy/service/accesslog/v3/als.proto'], { defaults: false }),
    ACCESS_LOG_SERVICE,
  );
  return accessLog;
}
