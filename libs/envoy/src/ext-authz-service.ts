import type { EnvoyService } from './protos.ts';
import { envoyService, loadEnvoyProtos } from './protos.ts';

export const EXT_AUTHZ_SERVICE = 'envoy.service.auth.v3.Authorization';

export type ExtAuthz = EnvoyService;

let extAuthz: ExtAuthz | undefined;

/** The ext_authz service definition, loaded on first use and shared afterwards. */
export function loadExtAuthz(): ExtAuthz {
  extAuthz ??= envoyService(
    loadEnvoyProtos(['envoy/service/auth/v3/external_auth.proto']),
    EXT_AUTHZ_SERVICE,
  );
  return extAuthz;
}
