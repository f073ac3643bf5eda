import { main } from '@warden/runtime';
import { agentService } from './spec.ts';

// The per-host identity agent (ARCHITECTURE §1, §3): keys made on the host, SVIDs from the CA over NATS,
// cached and rotated at half-life, served to Envoy over SDS and written as PEM files.
main(agentService);
