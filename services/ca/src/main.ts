import { main } from '@warden/runtime';
import { caService } from './spec.ts';

// The trust domain's CA (ARCHITECTURE §1, §3): issues X.509-SVIDs over warden.ca.v1.sign, serves the
// bundle and join tokens, revokes on warden.enforce.v1.revoke.
main(caService);
