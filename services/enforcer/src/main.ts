import { main } from '@warden/runtime';
import { enforcerService } from './spec.ts';

main(enforcerService);
