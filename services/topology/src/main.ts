import { main } from '@warden/runtime';
import { topologyService } from './spec.ts';

// The registry of workloads (static file, registrations, Kubernetes) and the observed call graph.
main(topologyService);
