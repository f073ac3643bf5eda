import type { ServiceSpec } from '@warden/runtime';
import { startAgent } from './agent.ts';
import { agentConfig } from './config.ts';

/** The agent as `runService`/`main` take it (main.ts runs it; tests boot it in-process too). */
export const agentService: ServiceSpec<typeof agentConfig> = {
  name: 'agent',
  config: agentConfig,
  start: startAgent,
};
