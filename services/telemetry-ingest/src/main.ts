import { main } from '@warden/runtime';
import { telemetryIngestService } from './spec.ts';

main(telemetryIngestService);
