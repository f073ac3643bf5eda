/** A principal as Envoy or Istio writes it (with or without `spiffe://`), as a SPIFFE URI. */
export const spiffeUri = (principal: string): string =>
  principal.startsWith('spiffe://') ? principal : `spiffe://${principal}`;
