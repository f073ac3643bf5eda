import { main } from '@warden/runtime';
import { detectorService } from './spec.ts';

main(detectorService);
