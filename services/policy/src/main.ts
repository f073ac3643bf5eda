import { main } from '@warden/runtime';
import { policyService } from './spec.ts';

// Policy lifecycle: validate, compile, version, store, roll out, roll back, dry run.
main(policyService);
