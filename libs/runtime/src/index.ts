export type { BaseConfig } from './config.ts';
export { baseConfig, baseConfigShape, ConfigError, loadConfig } from './config.ts';
export type { HealthState, OpsServer } from './http.ts';
export { startOpsServer } from './http.ts';
export type { Logger } from './logger.ts';
export { createLogger } from './logger.ts';
export { connectNats, NatsCredentialsError } from './nats.ts';
export type { RunningService, ServiceContext, ServiceSpec, Started } from './service.ts';
export { main, runService } from './service.ts';
