/**
 * `@keystore/provider-pkcs11/module`: the PKCS#11 provider for apps that use an inversify container.
 * This is the only entry point of the package that imports inversify (an optional peer dependency).
 *
 * @example
 * ```ts
 * import { Container } from 'inversify';
 * import { KeyStore, keyStoreModule } from '@keystore/core/di';
 * import { pkcs11Module } from '@keystore/provider-pkcs11/module';
 *
 * const container = new Container();
 * await container.load(
 *   pkcs11Module({ module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'app', pinEnv: 'APP_TOKEN_PIN' }),
 *   keyStoreModule(),
 * );
 * const store = await container.getAsync<KeyStore>(KeyStore);
 * ```
 * @module @keystore/provider-pkcs11/module
 */
import { KeyStoreProvider } from '@keystore/core/di';
import { ContainerModule } from 'inversify';
import type { Pkcs11ProviderOptions } from './options.js';
import { pkcs11Provider } from './provider.js';

/**
 * A container module that multi-binds one PKCS#11 provider (singleton scope) to the core's
 * `KeyStoreProvider` token (`Symbol.for('@keystore/core/KeyStoreProvider')`).
 *
 * @param options The provider's options: the module's path, the token and the PIN's source.
 * @since 0.1.0
 */
export function pkcs11Module(options: Pkcs11ProviderOptions): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<KeyStoreProvider>(KeyStoreProvider)
      .toDynamicValue(() => pkcs11Provider(options))
      .inSingletonScope();
  });
}

export type { Pkcs11ProviderOptions } from './options.js';
