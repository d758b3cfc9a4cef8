/**
 * The provider as the `keystore` CLI makes it: configured from the environment.
 *
 * @module
 */
import {
  KeyStoreError,
  type KeyStoreProvider,
  type ProbeResult,
  type ProviderKey,
  type ProviderKeyInfo,
} from '@keystore/core';
import { type Pkcs11ProviderOptions, resolvePin } from './options.js';
import { PKCS11_CAPABILITIES, Pkcs11Provider } from './provider.js';
import { PROVIDER_ID } from './rv.js';

/**
 * The environment variables {@link createProvider} reads.
 *
 * @since 0.1.0
 */
export const PKCS11_ENV = {
  /** The module's absolute path. */
  module: 'KEYSTORE_PKCS11_MODULE',
  /** The token's label. */
  token: 'KEYSTORE_PKCS11_TOKEN',
  /** A file holding the user PIN (preferred). */
  pinFile: 'KEYSTORE_PKCS11_PIN_FILE',
  /** The user PIN itself. */
  pin: 'KEYSTORE_PKCS11_PIN',
} as const;

/** A provider that cannot serve, and says why: what the CLI gets when the environment does not configure one. */
function unconfigured(reasons: string[]): KeyStoreProvider {
  const refuse = (): Promise<never> =>
    Promise.reject(
      new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', `the PKCS#11 provider is not configured: ${reasons[0]}`, {
        providerId: PROVIDER_ID,
        hint: reasons[1],
      }),
    );
  return {
    id: PROVIDER_ID,
    displayName: 'PKCS#11 token',
    capabilities: PKCS11_CAPABILITIES,
    probe: async (): Promise<ProbeResult> => ({ available: false, isolation: 'none', reasons }),
    createKey: (): Promise<ProviderKey> => refuse(),
    openKey: (): Promise<ProviderKey> => refuse(),
    listKeys: (): Promise<ProviderKeyInfo[]> => refuse(),
    deleteKey: (): Promise<void> => refuse(),
    // The capabilities say importKeys, as the configured provider's do: refused like the rest.
    importKey: (): Promise<ProviderKey> => refuse(),
    // Nothing was loaded: closing is a no-op, as on every other provider.
    close: async (): Promise<void> => {},
  };
}

/**
 * The entry point the `keystore` CLI calls: a provider configured from the environment —
 * `KEYSTORE_PKCS11_MODULE` (the module's absolute path), `KEYSTORE_PKCS11_TOKEN` (the token's
 * label) and the PIN from the file `KEYSTORE_PKCS11_PIN_FILE` names or from `KEYSTORE_PKCS11_PIN`.
 * Never throws: without a module, or with a bad setting, the provider's probe says what to set.
 *
 * @since 0.1.0
 */
export function createProvider(env: NodeJS.ProcessEnv = process.env): KeyStoreProvider {
  const module = env[PKCS11_ENV.module];
  if (!module) {
    return unconfigured([
      `${PKCS11_ENV.module} is not set`,
      `set ${PKCS11_ENV.module} to the module's absolute path (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so), ${PKCS11_ENV.token} to the token's label, and ${PKCS11_ENV.pinFile} to a file holding the user PIN`,
    ]);
  }
  try {
    const options: Pkcs11ProviderOptions = { module };
    const token = env[PKCS11_ENV.token];
    if (token) options.tokenLabel = token;
    const pinFile = env[PKCS11_ENV.pinFile];
    const pin = pinFile ? resolvePin({ pinFile }) : env[PKCS11_ENV.pin];
    if (pin !== undefined) options.pin = pin;
    return new Pkcs11Provider(options);
  } catch (err) {
    if (!KeyStoreError.is(err)) throw err;
    return unconfigured([err.message, err.hint ?? `check ${Object.values(PKCS11_ENV).join(', ')}`]);
  }
}
