/**
 * The key store's checks of what an app passes it (options, the key to import, the providers), run
 * before any policy read or provider call, on top of the request checks of `@keystore/core/provider`.
 *
 * @module
 */
import { KeyObject } from 'node:crypto';
import { isKeyAlgorithm, type KeyAlgorithm, type KeyScope } from './algorithms.js';
import { algorithmOfPublicKey, publicKeyMatchesAlgorithm } from './formats.js';
import { checkPassword, checkScope, checkSignal, checkUserPrompt, invalidArgument } from './provider/checks.js';
import { isProviderId } from './ref.js';
import type {
  CreateKeyOptions,
  ImportKeyOptions,
  KeyStoreProvider,
  OpenKeyOptions,
  UserPromptOptions,
} from './types.js';

/** `options` when it is an object, `{}` when it is undefined; `ERR_KEYSTORE_INVALID_ARGUMENT` otherwise. */
export function checkOptions<T extends object>(options: T | undefined, what: string): Partial<T> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw invalidArgument(`${what} must be an object`);
  return options;
}

/** The provider id an app's options name, or `undefined`. */
export function checkProviderOption(provider: unknown): string | undefined {
  if (provider === undefined) return undefined;
  if (typeof provider !== 'string' || provider.length === 0) {
    throw invalidArgument('provider must be a non-empty string');
  }
  return provider;
}

/** The refusal of a key that is neither RSA (2048, 3072, 4096 bits) nor EC (P-256, P-384, P-521). */
function notImportable(what: string) {
  return invalidArgument(
    `a ${what} key cannot be imported: only RSA (2048, 3072, 4096 bits) and EC (P-256, P-384, P-521) keys`,
  );
}

/**
 * The algorithm of a private key to import: derived from the key (RSA by modulus size, EC by curve),
 * `wanted` choosing ECDH over the default ECDSA for an EC key.
 */
export function importAlgorithm(privateKey: unknown, wanted: unknown): KeyAlgorithm {
  if (!(privateKey instanceof KeyObject)) {
    throw invalidArgument('privateKey must be a KeyObject (crypto.createPrivateKey)');
  }
  if (privateKey.type !== 'private') {
    throw invalidArgument(`privateKey must be a private key, not a ${privateKey.type} key`);
  }
  if (wanted !== undefined && !isKeyAlgorithm(wanted))
    throw invalidArgument(`unknown key algorithm: ${String(wanted)}`);
  const type = privateKey.asymmetricKeyType;
  const details = privateKey.asymmetricKeyDetails;
  if (type !== 'rsa' && type !== 'ec') throw notImportable(String(type));
  const derived = algorithmOfPublicKey(privateKey);
  if (derived === null) {
    throw notImportable(
      type === 'rsa' ? `${details?.modulusLength ?? '?'}-bit RSA` : `EC ${details?.namedCurve ?? '?'}`,
    );
  }
  if (wanted === undefined) return derived;
  if (!publicKeyMatchesAlgorithm(privateKey, wanted)) {
    throw invalidArgument(`the key does not fit ${wanted}: it is a ${derived.replace(/^ECDSA-/, 'EC ')} key`);
  }
  return wanted;
}

/** What createKey and importKey share, validated. */
export interface CommonOptions {
  readonly scope: KeyScope;
  readonly exportable: boolean;
  readonly providerId: string | undefined;
  readonly password: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly userPrompt: UserPromptOptions | undefined;
}

/** Validates what createKey and importKey share: scope, exportable, provider, password, signal, prompt. */
export function commonOptions(options: Partial<CreateKeyOptions | ImportKeyOptions>): CommonOptions {
  const scope = checkScope(options.scope) ?? 'user';
  if (options.exportable !== undefined && typeof options.exportable !== 'boolean') {
    throw invalidArgument('exportable must be a boolean');
  }
  const exportable = options.exportable ?? false;
  const providerId = checkProviderOption(options.provider);
  const password = checkPassword(options.password);
  const signal = checkSignal(options.signal);
  const userPrompt = checkUserPrompt(options.userPrompt);
  return { scope, exportable, providerId, password, signal, userPrompt };
}

/** The validated options of openKey and deleteKey, and the part of them passed on to a provider. */
export interface KeyOptions {
  readonly scope: KeyScope | undefined;
  readonly providerId: string | undefined;
  readonly password: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly extra: { readonly password?: string; readonly signal?: AbortSignal };
}

/** Validates the options of openKey and deleteKey, and the part of them passed on to a provider. */
export function keyOptions(options: OpenKeyOptions | undefined): KeyOptions {
  const o = checkOptions(options, 'options');
  const scope = checkScope(o.scope);
  const providerId = checkProviderOption(o.provider);
  const password = checkPassword(o.password);
  const signal = checkSignal(o.signal);
  const extra = {
    ...(password === undefined ? {} : { password }),
    ...(signal === undefined ? {} : { signal }),
  };
  return { scope, providerId, password, signal, extra };
}

/** Whether `value` has every member a {@link KeyStoreProvider} needs. */
function isProvider(value: unknown): value is KeyStoreProvider {
  const p = value as Partial<KeyStoreProvider> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.probe === 'function' &&
    typeof p.createKey === 'function' &&
    typeof p.openKey === 'function' &&
    typeof p.listKeys === 'function' &&
    typeof p.deleteKey === 'function' &&
    typeof p.capabilities === 'object' &&
    p.capabilities !== null &&
    Array.isArray(p.capabilities.algorithms) &&
    Array.isArray(p.capabilities.operations) &&
    Array.isArray(p.capabilities.scopes) &&
    Array.isArray(p.capabilities.rsaSignaturePaddings) &&
    Array.isArray(p.capabilities.oaepHashes)
  );
}

/** Checks createKeyStore's providers: each one a provider, with a well-formed id no other one has. */
export function checkProviders(providers: unknown): readonly KeyStoreProvider[] {
  if (!Array.isArray(providers)) throw invalidArgument('providers must be an array of KeyStoreProvider');
  const seen = new Set<string>();
  providers.forEach((provider: unknown, index) => {
    if (!isProvider(provider)) throw invalidArgument(`providers[${index}] is not a KeyStoreProvider`);
    if (!isProviderId(provider.id)) {
      throw invalidArgument(
        `providers[${index}] has a bad id ${JSON.stringify(provider.id)} (letters, digits, ".", "_", "-")`,
      );
    }
    if (seen.has(provider.id)) throw invalidArgument(`two providers have the id ${provider.id}`);
    seen.add(provider.id);
  });
  return providers;
}
