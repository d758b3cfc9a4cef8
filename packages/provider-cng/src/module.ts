/**
 * `@keystore/provider-cng/module`: the CNG provider for apps that use an inversify container. This
 * is the only entry point of the package that imports inversify (an optional peer dependency).
 *
 * Guides: {@link "CNG provider" | the CNG provider}, {@link "Dependency injection" | dependency injection}.
 *
 * @example
 * ```ts
 * import { Container } from 'inversify';
 * import { KeyStore, keyStoreModule } from '@keystore/core/di';
 * import { cngModule } from '@keystore/provider-cng/module';
 *
 * const container = new Container();
 * await container.load(cngModule(), keyStoreModule({ policy: { minimumIsolation: 'os-isolated' } }));
 * const store = await container.getAsync<KeyStore>(KeyStore);
 * ```
 * @module @keystore/provider-cng/module
 */
import { KeyStoreProvider } from '@keystore/core/di';
import { ContainerModule } from 'inversify';
import { type CngProviderOptions, cngProvider } from './provider.js';

/**
 * A container module that multi-binds one CNG provider (singleton scope) to the core's
 * `KeyStoreProvider` token (`Symbol.for('@keystore/core/KeyStoreProvider')`).
 *
 * @param options The CNG provider options (none are needed in production).
 * @since 0.2.0
 */
export function cngModule(options?: CngProviderOptions): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<KeyStoreProvider>(KeyStoreProvider)
      .toDynamicValue(() => cngProvider(options))
      .inSingletonScope();
  });
}

export type { CngProviderOptions } from './provider.js';
