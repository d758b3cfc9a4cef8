/**
 * `@keystore/provider-capi/module`: the CryptoAPI provider for apps that use an inversify container.
 * This is the only entry point of the package that imports inversify (an optional peer dependency).
 * Registering the provider does not enable it: the policy must still say `legacyCryptoApi: "allow"`.
 *
 * Guides: {@link "CryptoAPI provider" | the CryptoAPI provider}, {@link "Dependency injection" | dependency injection}.
 *
 * @example
 * ```ts
 * import { Container } from 'inversify';
 * import { KeyStore, keyStoreModule } from '@keystore/core/di';
 * import { capiModule } from '@keystore/provider-capi/module';
 *
 * const container = new Container();
 * await container.load(
 *   capiModule(),
 *   keyStoreModule({ policy: { legacyCryptoApi: 'allow', minimumIsolation: 'in-process' } }),
 * );
 * const store = await container.getAsync<KeyStore>(KeyStore);
 * ```
 * @module @keystore/provider-capi/module
 */
import { KeyStoreProvider } from '@keystore/core/di';
import { ContainerModule } from 'inversify';
import { type CapiProviderOptions, capiProvider } from './provider.js';

/**
 * A container module that multi-binds one CryptoAPI provider (singleton scope) to the core's
 * `KeyStoreProvider` token (`Symbol.for('@keystore/core/KeyStoreProvider')`).
 *
 * @param options The CryptoAPI provider options.
 * @since 0.2.0
 */
export function capiModule(options?: CapiProviderOptions): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<KeyStoreProvider>(KeyStoreProvider)
      .toDynamicValue(() => capiProvider(options))
      .inSingletonScope();
  });
}

export type { CapiProviderOptions } from './provider.js';
