export type { BaseConfig } from './config.ts';
export { baseConfig, baseConfigShape, ConfigError, loadConfig, trustDomainSetting } from './config.ts';
export type { HealthState, OpsServer } from './http.ts';
export { startOpsServer } from './http.ts';
export type { Logger } from './logger.ts';
export { createLogger } from './logger.ts';
export { connectNats, NatsCredentialsError, NatsServersError } from './nats.ts';
export { parseNatsServers } from './nats-servers.ts';
export type { HostPort, RedisConnectionConfig } from './redis.ts';
export {
  createRedis,
  parseHostPorts,
  redisAuth,
  redisAuthConfigShape,
  redisConnectionOptions,
  RedisCredentialsError,
  redisTarget,
} from './redis.ts';
export type { RunningService, ServiceContext, ServiceSpec, Started } from './service.ts';
export { main, runService } from './service.ts';
export type { PositionedIssue, PositionOf } from './yaml.ts';
export { describeFileIssues, MAX_REPORTED_ISSUES, parseYamlFile, yamlPosition } from './yaml.ts';
