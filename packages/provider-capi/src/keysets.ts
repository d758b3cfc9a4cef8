/**
 * The CryptoAPI steps on one key container that the provider's operations are made of: acquire a
 * context, delete a container, open the key in it (and check it is the one just put there), read its
 * algorithm, and close the keys of it still open in this process.
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { type IsolationReceipt, type KeyScope, KeyStoreError } from '@keystore/core';
import { publicKeyFromBlob, rsaAlgorithmOfBits } from './blobs.js';
import {
  AT_KEYEXCHANGE,
  AT_SIGNATURE,
  CRYPT_DELETEKEYSET,
  CRYPT_EXPORT,
  CRYPT_MACHINE_KEYSET,
  CRYPT_SILENT,
  CRYPT_VERIFYCONTEXT,
  KP_KEYLEN,
  KP_PERMISSIONS,
  MS_ENH_RSA_AES_PROV,
  PROV_RSA_AES,
  PUBLICKEYBLOB,
} from './constants.js';
import { containerRegistry } from './containers.js';
import { CapiKey, type CapiKeySpec, type CapiThreading } from './key.js';
import type { LiveKeys } from './live-keys.js';
import type { AdvapiBindings, CryptKeyHandle, CryptProvHandle } from './native/advapi32.js';
import { capiError } from './status.js';

/** What {@link openContainerKey} needs of the provider that opens a key. */
export interface OpenContext {
  /** Where the key's private-key operations run. */
  readonly threading: CapiThreading;
  /** The machine policy judged again before the key's private part leaves CryptoAPI. */
  readonly beforeExport: (signal: AbortSignal | undefined) => Promise<void>;
  /** The provider's open keys (held weakly): the new key joins them, and leaves them when it is closed. */
  readonly keys: LiveKeys<CapiKey>;
}

/** Acquires a context of `name` (a container, or `null` for none), or throws a typed error. */
export function acquire(native: AdvapiBindings, name: string | null, flags: number, what: string): CryptProvHandle {
  const result = native.CryptAcquireContextW(name, MS_ENH_RSA_AES_PROV, PROV_RSA_AES, flags);
  if (result.status !== 0 || result.value === undefined) throw capiError(result.status, what);
  return result.value;
}

/** Deletes a container (`CRYPT_DELETEKEYSET`); returns the status, `0` when it was deleted. */
export function deleteContainer(native: AdvapiBindings, name: string, scope: KeyScope): number {
  const flags = CRYPT_DELETEKEYSET | (scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0);
  // With CRYPT_DELETEKEYSET the returned handle is not a context: there is nothing to release.
  return native.CryptAcquireContextW(name, MS_ENH_RSA_AES_PROV, PROV_RSA_AES, flags).status;
}

/** The isolation receipt of a key: `in-process`, and what was seen to say so. */
function receipt(name: string, scope: KeyScope, keySpec: CapiKeySpec, wine: string | undefined): IsolationReceipt {
  const evidence = [
    `CryptoAPI (${MS_ENH_RSA_AES_PROV}, rsaenh.dll) decrypts the private key of container "${name}" (${scope} scope, ${
      keySpec === 'signature' ? 'AT_SIGNATURE' : 'AT_KEYEXCHANGE'
    }) into this process's memory to use it`,
    "any process running as the same user can read this process's memory: the key's export flag does not protect it there",
  ];
  if (wine !== undefined) {
    evidence.push(`running under Wine ${wine}: rsaenh keeps the container in the Wine prefix's registry`);
  }
  return { level: 'in-process', providerId: 'capi', measuredAt: new Date().toISOString(), evidence };
}

/** Opens a container and the key in it (AT_KEYEXCHANGE first, then AT_SIGNATURE). */
export function openContainerKey(native: AdvapiBindings, name: string, scope: KeyScope, context: OpenContext): CapiKey {
  const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
  const prov = acquire(native, name, CRYPT_SILENT | machine, `open key container "${name}" (${scope} scope)`);
  let key: CryptKeyHandle | undefined;
  try {
    let keySpec: CapiKeySpec = 'keyExchange';
    let found = native.CryptGetUserKey(prov, AT_KEYEXCHANGE);
    if (found.status === 0x8009000d /* NTE_NO_KEY */) {
      keySpec = 'signature';
      found = native.CryptGetUserKey(prov, AT_SIGNATURE);
    }
    if (found.status !== 0 || found.value === undefined) {
      throw capiError(found.status, `open the key in container "${name}" (${scope} scope)`);
    }
    key = found.value;
    const blob = native.CryptExportKey(key, PUBLICKEYBLOB);
    if (blob.status !== 0 || blob.value === undefined) {
      throw capiError(blob.status, `export the public key of "${name}"`);
    }
    const info = publicKeyFromBlob(blob.value);
    const algorithm = rsaAlgorithmOfBits(info.bits);
    if (algorithm === undefined) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `the key in container "${name}" is RSA-${info.bits}; the SDK supports RSA-2048, RSA-3072 and RSA-4096`,
        {
          providerId: 'capi',
          hint: 'a legacy key of that size cannot be used or moved through the SDK: issue a new key and retire it',
        },
      );
    }
    const permissions = native.CryptGetKeyParam(key, KP_PERMISSIONS, 4);
    const exportable =
      permissions.status === 0 &&
      permissions.value !== undefined &&
      permissions.value.length >= 4 &&
      (permissions.value.readUInt32LE(0) & CRYPT_EXPORT) !== 0;
    const opened = new CapiKey(
      {
        name,
        algorithm,
        scope,
        exportable,
        keySpec,
        isolation: receipt(name, scope, keySpec, native.wineVersion),
        publicKey: info.publicKey,
        threading: context.threading,
        beforeExport: context.beforeExport,
      },
      native,
      prov,
      key,
      (closed) => {
        context.keys.delete(closed);
        containerRegistry(native).remove(closed);
      },
    );
    context.keys.add(opened);
    containerRegistry(native).add(opened);
    return opened;
  } catch (error) {
    if (key !== undefined) native.CryptDestroyKey(key);
    native.CryptReleaseContext(prov);
    throw error;
  }
}

/**
 * Opens the key just made in a container and checks it is the one made: between the release of
 * the creating handles and this open, another process could have replaced the container.
 */
export function openExpected(
  native: AdvapiBindings,
  name: string,
  scope: KeyScope,
  expected: KeyObject,
  context: OpenContext,
): CapiKey {
  const key = openContainerKey(native, name, scope, context);
  if (key.publicKey.equals(expected)) return key;
  void key.close();
  throw new KeyStoreError(
    'ERR_KEYSTORE_KEY_EXISTS',
    `container "${name}" (${scope} scope) holds another key than the one just put in it: another program replaced it`,
    { providerId: 'capi', hint: 'check which program uses this container name, and choose another name' },
  );
}

/** The algorithm of the key in a container, or `undefined` when it cannot be read or has none. */
export function algorithmOf(native: AdvapiBindings, name: string, scope: KeyScope) {
  const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
  const opened = native.CryptAcquireContextW(name, MS_ENH_RSA_AES_PROV, PROV_RSA_AES, CRYPT_SILENT | machine);
  if (opened.status !== 0 || opened.value === undefined) return undefined;
  try {
    for (const spec of [AT_KEYEXCHANGE, AT_SIGNATURE]) {
      const found = native.CryptGetUserKey(opened.value, spec);
      if (found.status !== 0 || found.value === undefined) continue;
      try {
        const length = native.CryptGetKeyParam(found.value, KP_KEYLEN, 4);
        if (length.status !== 0 || length.value === undefined || length.value.length < 4) return undefined;
        return rsaAlgorithmOfBits(length.value.readUInt32LE(0));
      } finally {
        native.CryptDestroyKey(found.value);
      }
    }
    return undefined;
  } finally {
    native.CryptReleaseContext(opened.value);
  }
}

/**
 * Closes every key of a container open in this process (across providers over the same DLL), and
 * any opened meanwhile, waiting for an operation running on one to end.
 */
export async function retireLive(native: AdvapiBindings, name: string, scope: KeyScope, reason: string): Promise<void> {
  const registry = containerRegistry(native);
  for (let live = registry.liveKeys(name, scope); live.length > 0; live = registry.liveKeys(name, scope)) {
    await Promise.allSettled(live.map((key) => key.retire(reason)));
  }
}

/**
 * Before a new container is made under `name`: keys still open on an older container of that name
 * (deleted by another process) are closed, and what releasing them wrote back under Wine is
 * deleted again, so that closing them later cannot overwrite the new key. When the container
 * exists, nothing is touched: the create fails with `ERR_KEYSTORE_KEY_EXISTS` as it should.
 */
export async function retireStale(native: AdvapiBindings, name: string, scope: KeyScope): Promise<void> {
  if (containerRegistry(native).liveKeys(name, scope).length === 0) return;
  const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
  const probe = native.CryptAcquireContextW(name, MS_ENH_RSA_AES_PROV, PROV_RSA_AES, CRYPT_SILENT | machine);
  if (probe.status === 0 && probe.value !== undefined) native.CryptReleaseContext(probe.value);
  if (probe.status !== 0x80090016 /* NTE_BAD_KEYSET */) return;
  await retireLive(native, name, scope, `the CryptoAPI key "${name}" (${scope} scope) was deleted elsewhere`);
  // On Windows this finds nothing (NTE_BAD_KEYSET); under Wine it removes the written-back container.
  deleteContainer(native, name, scope);
}

/** The names of the containers of one scope (`PP_ENUMCONTAINERS`), as CryptoAPI lists them. */
export function containerNames(native: AdvapiBindings, scope: KeyScope): string[] {
  const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
  const prov = acquire(
    native,
    null,
    CRYPT_VERIFYCONTEXT | CRYPT_SILENT | machine,
    `open the ${scope} key set for listing`,
  );
  let names: string[];
  try {
    // Wine's rsaenh enumerates the user's containers from a machine context unless the
    // enumeration call itself carries CRYPT_MACHINE_KEYSET; Windows takes the scope from the context.
    const listed = native.enumContainers(prov, native.wineVersion !== undefined ? machine : 0);
    if (listed.status !== 0 || listed.value === undefined) {
      throw capiError(listed.status, `list the ${scope} key containers`);
    }
    names = listed.value;
  } finally {
    native.CryptReleaseContext(prov);
  }
  return names;
}
