import { binary, seedFile } from '@warden/infra';
import { policyService } from '@warden/policy';
import { runService } from '@warden/runtime';
import type { RunningService } from '@warden/runtime';
import type { TestNats } from '@warden/testing';

/** The real policy service, in-process, with its own NATS credentials and the installed OPA. */
export const startPolicy = (nats: TestNats): Promise<RunningService> =>
  runService(policyService, {
    WARDEN_NATS_URL: nats.url,
    WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'policy'),
    WARDEN_LOG_LEVEL: 'silent',
    WARDEN_OPA_PATH: binary('opa'),
  });
