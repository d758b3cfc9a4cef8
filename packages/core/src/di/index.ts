/**
 * `@keystore/core/di`: the key store for apps that use an inversify container. A token and the
 * interface it stands for share one name ({@link KeyStore}, {@link KeyStoreProvider},
 * {@link KeyStorePolicy}); providers are multi-bound to {@link KeyStoreProvider}, and
 * {@link keyStoreModule} binds {@link KeyStore} to a store built from all of them.
 *
 * This is the only entry point of `@keystore/core` that imports inversify (an optional peer
 * dependency); apps without a container call `createKeyStore` from `@keystore/core` instead.
 *
 * Guide: {@link "Dependency injection" | dependency injection}.
 *
 * @example
 * ```ts
 * import { Container } from 'inversify';
 * import { KeyStore, KeyStoreProvider, keyStoreModule } from '@keystore/core/di';
 * import { createMemoryProvider } from '@keystore/core/testing';
 *
 * const container = new Container();
 * container.bind<KeyStoreProvider>(KeyStoreProvider).toDynamicValue(() => createMemoryProvider());
 * container.load(keyStoreModule({ policy: { minimumIsolation: 'none' } }));
 * const store = await container.getAsync<KeyStore>(KeyStore);
 * ```
 * @module @keystore/core/di
 */
import { ContainerModule } from 'inversify';
import { createKeyStore } from '../keystore.js';
import { rejectRemoved } from '../policy/load.js';
import { POLICY_SOURCES, type WithPolicySources } from '../policy/sources.js';
import { createMemoryProvider, type MemoryProviderOptions } from '../testing/memory-provider.js';
import type {
  KeyStore as KeyStoreInterface,
  KeyStorePolicy as KeyStorePolicyInterface,
  KeyStoreProvider as KeyStoreProviderInterface,
} from '../types.js';

/**
 * The token of the {@link KeyStore} (`Symbol.for('@keystore/core/KeyStore')`). {@link keyStoreModule}
 * binds it in singleton scope to a store built asynchronously, so resolve it with `getAsync`.
 *
 * @example
 * ```ts
 * const store = await container.getAsync<KeyStore>(KeyStore);
 * ```
 * @since 0.1.0
 */
export const KeyStore: unique symbol = Symbol.for('@keystore/core/KeyStore');

/**
 * The key store interface (the `KeyStore` of `@keystore/core`), under the same name as its token.
 *
 * @since 0.1.0
 */
export type KeyStore = KeyStoreInterface;

/**
 * The token providers are multi-bound to (`Symbol.for('@keystore/core/KeyStoreProvider')`): bind
 * each provider to it once; {@link keyStoreModule} gets them all, in binding order.
 *
 * @example
 * ```ts
 * container.bind<KeyStoreProvider>(KeyStoreProvider).toDynamicValue(() => tpmProvider());
 * container.bind<KeyStoreProvider>(KeyStoreProvider).toDynamicValue(() => cngProvider());
 * ```
 * @since 0.1.0
 */
export const KeyStoreProvider: unique symbol = Symbol.for('@keystore/core/KeyStoreProvider');

/**
 * The provider interface (the `KeyStoreProvider` of `@keystore/core`), under the same name as its token.
 *
 * @since 0.1.0
 */
export type KeyStoreProvider = KeyStoreProviderInterface;

/**
 * The token of the app's policy (`Symbol.for('@keystore/core/KeyStorePolicy')`). Optional: when it
 * is not bound and {@link keyStoreModule} got no `policy`, the built-in defaults apply (the machine
 * policy still caps whatever the app asks for).
 *
 * @example
 * ```ts
 * container.bind<KeyStorePolicy>(KeyStorePolicy).toConstantValue({ minimumIsolation: 'hardware' });
 * ```
 * @since 0.1.0
 */
export const KeyStorePolicy: unique symbol = Symbol.for('@keystore/core/KeyStorePolicy');

/**
 * A policy document (the `KeyStorePolicy` of `@keystore/core`), under the same name as its token.
 *
 * @since 0.1.0
 */
export type KeyStorePolicy = KeyStorePolicyInterface;

/**
 * Options of {@link keyStoreModule}.
 *
 * @since 0.1.0
 */
export interface KeyStoreModuleOptions extends WithPolicySources {
  /**
   * The app's policy; when given, it is used instead of a {@link KeyStorePolicy} binding. Every
   * machine policy still caps it: since 0.3.0 no option drops or replaces one (`machinePolicy`,
   * `registryPolicy` and `env` are gone and rejected); tests pass `TEST_POLICY_SOURCES` from
   * `@keystore/core/testing`.
   */
  policy?: KeyStorePolicy;
}

/**
 * A container module that binds {@link KeyStore}, in singleton scope, to the store `createKeyStore`
 * builds from every provider bound to {@link KeyStoreProvider} and the app policy (the `policy`
 * option, else the {@link KeyStorePolicy} binding, else none). Building it is asynchronous (the
 * machine policy file is read), so resolve it with `container.getAsync`. Unbinding it with
 * `container.unbindAsync(KeyStore)` (or `unloadAsync` of the module) closes the store and its providers.
 *
 * With no provider bound the store still resolves; `createKey` then rejects with
 * `ERR_KEYSTORE_NO_PROVIDER`.
 *
 * @throws `KeyStoreError` `ERR_KEYSTORE_INVALID_ARGUMENT` for an option removed in 0.3.0.
 * @example
 * ```ts
 * import { Container } from 'inversify';
 * import { KeyStore, KeyStoreProvider, keyStoreModule } from '@keystore/core/di';
 *
 * const container = new Container();
 * container.bind<KeyStoreProvider>(KeyStoreProvider).toConstantValue(tpmProvider());
 * container.load(keyStoreModule({ policy: { minimumIsolation: 'hardware' } }));
 * const store = await container.getAsync<KeyStore>(KeyStore);
 * const key = await store.createKey('login', { algorithm: 'ECDSA-P256' });
 * ```
 * @since 0.1.0
 */
export function keyStoreModule(options: KeyStoreModuleOptions = {}): ContainerModule {
  rejectRemoved(options, ['machinePolicy', 'registryPolicy', 'env', 'registryReader'], 'keyStoreModule');
  const sources = options[POLICY_SOURCES];
  return new ContainerModule(({ bind }) => {
    bind<KeyStore>(KeyStore)
      .toDynamicValue(async (context) => {
        const providers = await context.getAllAsync<KeyStoreProvider>(KeyStoreProvider, { optional: true });
        const policy = options.policy ?? (await context.getAsync<KeyStorePolicy>(KeyStorePolicy, { optional: true }));
        return createKeyStore({
          providers: providers ?? [],
          ...(policy === undefined ? {} : { policy }),
          ...(sources === undefined ? {} : { [POLICY_SOURCES]: sources }),
        });
      })
      .inSingletonScope()
      .onDeactivation((store) => store.close());
  });
}

/**
 * A `ContainerModule` that multi-binds the in-memory provider (from `@keystore/core/testing`) to
 * {@link KeyStoreProvider}, in singleton scope: the container counterpart of `createMemoryProvider`,
 * for apps' own tests and demos.
 *
 * > [!NOTE]
 * > Its keys live in JavaScript memory (isolation `none`), so the default floor refuses it: pair it
 * > with an explicit development policy.
 *
 * @example
 * ```ts
 * const container = new Container();
 * container.load(memoryProviderModule(), keyStoreModule({ policy: { minimumIsolation: 'none' } }));
 * const store = await container.getAsync<KeyStore>(KeyStore);
 * ```
 * @since 0.1.0
 */
export function memoryProviderModule(options?: MemoryProviderOptions): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<KeyStoreProvider>(KeyStoreProvider)
      .toDynamicValue(() => createMemoryProvider(options))
      .inSingletonScope();
  });
}
