import type { webcrypto } from 'node:crypto';

// The workspace compiles without the DOM library; these are Node's WebCrypto types by their names.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type EcKeyGenParams = webcrypto.EcKeyGenParams;
export type RsaHashedKeyGenParams = webcrypto.RsaHashedKeyGenParams;
export type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;
export type RsaHashedKeyAlgorithm = webcrypto.RsaHashedKeyAlgorithm;
export type SigningParams = webcrypto.Algorithm | webcrypto.EcdsaParams;
