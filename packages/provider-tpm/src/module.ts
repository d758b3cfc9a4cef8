/**
 * `@keystore/provider-tpm/module`: the TPM provider for apps that use an inversify container. This
 * is the only entry point of the package that imports inversify (an optional peer dependency).
 *
 * Guides: {@link "TPM provider" | the TPM provider}, {@link "Dependency injection" | dependency injection}.
 *
 * @example
 * ```ts
 * import { Container } from 'inversify';
 * import { KeyStore, keyStoreModule } from '@keystore/core/di';
 * import { tpmModule } from '@keystore/provider-tpm/module';
 *
 * const container = new Container();
 * await container.load(tpmModule(), keyStoreModule({ policy: { minimumIsolation: 'hardware' } }));
 * const store = await container.getAsync<KeyStore>(KeyStore);
 * ```
 * @module @keystore/provider-tpm/module
 */
import { KeyStoreProvider } from '@keystore/core/di';
import { ContainerModule } from 'inversify';
import type { TpmProviderOptions } from './options.js';
import { tpmProvider } from './provider.js';

/**
 * A container module that multi-binds one TPM provider (singleton scope) to the core's
 * `KeyStoreProvider` token (`Symbol.for('@keystore/core/KeyStoreProvider')`).
 *
 * @param options The TPM provider options; omitted, the FAPI config comes from `TSS2_FAPICONF`.
 * @since 0.1.0
 */
export function tpmModule(options?: TpmProviderOptions): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<KeyStoreProvider>(KeyStoreProvider)
      .toDynamicValue(() => tpmProvider(options))
      .inSingletonScope();
  });
}

export type { TpmProviderOptions } from './options.js';
