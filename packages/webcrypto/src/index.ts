/**
 * A WebCrypto facade over keystore keys: `CryptoKey` handles whose private half stays in its
 * provider, a `Crypto` whose `subtle` uses them, and the installation of that `Crypto` as the global
 * one for libraries such as jose.
 *
 * @module @keystore/webcrypto
 */
export type { GlobalCryptoInstallation, KeyStoreCrypto, KeyStoreCryptoKeyPair } from './crypto.js';
export { installGlobalCrypto, keyStoreCrypto } from './crypto.js';
export type { RsaWebCryptoAlgorithm, ToCryptoKeyPairOptions, WebCryptoHash } from './key-pair.js';
export { toCryptoKeyPair } from './key-pair.js';
