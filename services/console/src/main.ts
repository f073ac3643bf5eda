import { main } from '@warden/runtime';
import { consoleService } from './spec.ts';

main(consoleService);
