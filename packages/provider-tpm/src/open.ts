/**
 * Opening, listing and deleting TPM keys, and the backend an opened key signs and decrypts through:
 * every use checks that the key at the FAPI path is still the one the handle was opened for.
 *
 * @module
 */

import { existsSync } from 'node:fs';
import {
  type KeyScope,
  KeyStoreError,
  type OperationOptions,
  type ProviderKeyInfo,
  type ProviderKeyRequest,
  throwIfAborted,
} from '@keystore/core';
import {
  type KeyBackend,
  keyPassword,
  keyReceipt,
  parseExportedKey,
  replacedKeyError,
  samePublicKey,
  TpmKey,
} from './key.js';
import { mayLoad, signLoaded } from './loaded.js';
import { assertKeyName, parseFapiKeyPath } from './names.js';
import { checkPassword, checkRequest, checkScope, tpmError } from './options.js';
import { deviceInfo } from './probe.js';
import type { FapiRuntime, Located } from './runtime.js';

/**
 * The sign and decrypt of an opened key. Both name the key by FAPI path, and the key at that path
 * may have been deleted and made again (by another store or process) since the handle was opened.
 */
function keyBackend(runtime: FapiRuntime): KeyBackend {
  return {
    sign: async (key, padding, digest, options) => {
      if (!existsSync(runtime.objectFileOf(key))) throw runtime.notFound(key.name, key.scope);
      const esys = mayLoad(runtime, key) ? runtime.loadedKeyBindings() : undefined;
      if (esys !== undefined) {
        const signature = await signLoaded(runtime, esys, key, padding, digest, options?.signal);
        if (signature !== undefined) return signature;
      }
      const sig = await runtime.call(
        `sign with key "${key.name}"`,
        (n, c) => n.sign(c.handle, key.fapiPath, padding, digest),
        { signal: options?.signal, password: keyPassword(key), keyPath: key.fapiPath },
      );
      // Fapi_Sign names the key by path, and the key at that path may have been deleted and made
      // again (by another store or process) since this handle was opened: the signature is only
      // returned when it was made by the key this handle stands for.
      // The PEM FAPI returns is the one it exported when the handle was opened unless the key changed:
      // equal text is the same key, and spares parsing a key per signature.
      if (sig.publicKeyPem !== key.exported.publicKeyPem && !samePublicKey(sig.publicKeyPem, key.publicKey)) {
        sig.signature.fill(0);
        throw replacedKeyError(key);
      }
      return sig.signature;
    },
    decrypt: async (key, ciphertext, options) => {
      if (!existsSync(runtime.objectFileOf(key))) throw runtime.notFound(key.name, key.scope);
      // Fapi_Decrypt does not say which key decrypted: read the public key at the path first, on
      // the same context, and decrypt only when it is this handle's key. Another process can still
      // replace the key between the two calls; that window is documented.
      return runtime.call(
        `decrypt with key "${key.name}"`,
        async (n, c) => {
          const current = await n.exportKey(c.handle, key.fapiPath);
          if (current.rc !== 0) return current.rc;
          let pem = '';
          try {
            pem = parseExportedKey(current.value ?? '').publicKeyPem;
          } catch {
            pem = '';
          }
          if (!samePublicKey(pem, key.publicKey)) throw replacedKeyError(key);
          return n.decrypt(c.handle, key.fapiPath, ciphertext);
        },
        { signal: options?.signal, password: keyPassword(key), keyPath: key.fapiPath },
      );
    },
  };
}

/** Makes the handle of a located key: its public key (`Fapi_ExportKey`) and its receipt. */
export async function loadKey(
  runtime: FapiRuntime,
  located: Located,
  name: string,
  password: string | undefined,
  signal?: AbortSignal,
): Promise<TpmKey> {
  const json = await runtime.call<string>(
    `export the public key of "${name}"`,
    (n, c) => n.exportKey(c.handle, located.path),
    {
      signal,
    },
  );
  const exported = parseExportedKey(json);
  if (!exported.algorithm || !exported.publicKeyPem) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
      `the TPM key "${name}" has an algorithm this SDK does not support`,
      { providerId: 'tpm' },
    );
  }
  const device = await deviceInfo(runtime, signal);
  return new TpmKey(
    name,
    exported.algorithm,
    located.scope,
    located.path,
    located.profile.name,
    keyReceipt(device, exported, located.path),
    exported,
    password,
    keyBackend(runtime),
  );
}

/** Opens a key by name; `ERR_KEYSTORE_KEY_NOT_FOUND` when there is none in that scope. */
export async function openTpmKey(runtime: FapiRuntime, request: ProviderKeyRequest): Promise<TpmKey> {
  checkRequest(request, 'openKey');
  throwIfAborted(request.signal);
  assertKeyName(request.name);
  const scope = checkScope(request.scope);
  const password = checkPassword(request.password);
  const located = runtime.locate(request.name, scope);
  if (!located) throw runtime.notFound(request.name, scope);
  return loadKey(runtime, located, request.name, password, request.signal);
}

/** Lists keys directly under the SRK (through `Fapi_List`), in one scope or both. */
export async function listTpmKeys(
  runtime: FapiRuntime,
  options?: OperationOptions & { scope?: KeyScope },
): Promise<ProviderKeyInfo[]> {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw tpmError('ERR_KEYSTORE_INVALID_ARGUMENT', 'listKeys options must be an object');
  }
  throwIfAborted(options?.signal);
  const wanted = options?.scope === undefined ? undefined : checkScope(options.scope);
  const setup = runtime.setup();
  await runtime.ensureProvisioned(options?.signal);
  const list = await runtime.call<string>('list keys (Fapi_List)', (n, c) => n.list(c.handle, '/'), {
    signal: options?.signal,
  });
  const seen = new Set<string>();
  const out: ProviderKeyInfo[] = [];
  for (const entry of list.split(':')) {
    const parsed = parseFapiKeyPath(entry);
    if (!parsed || seen.has(parsed.name)) continue;
    const profile = setup.profiles.find((p) => p.name === (parsed.profile ?? setup.defaultProfile.name));
    const located = runtime.locate(parsed.name);
    if (!located) continue;
    if (wanted && located.scope !== wanted) continue;
    seen.add(parsed.name);
    out.push({
      name: parsed.name,
      scope: located.scope,
      ...(profile?.algorithm ? { algorithm: profile.algorithm } : {}),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Deletes a key; `ERR_KEYSTORE_KEY_NOT_FOUND` when there is none in that scope. The signal cancels
 * the delete until `Fapi_Delete` starts; from then on the call runs to its end and its outcome is
 * the answer: a key that is gone is never reported as `ERR_KEYSTORE_CANCELLED`, since a caller told
 * "cancelled" would take the key to be still there.
 */
export async function deleteTpmKey(runtime: FapiRuntime, request: ProviderKeyRequest): Promise<void> {
  checkRequest(request, 'deleteKey');
  throwIfAborted(request.signal);
  assertKeyName(request.name);
  const scope = checkScope(request.scope);
  const located = runtime.locate(request.name, scope);
  if (!located) throw runtime.notFound(request.name, scope);
  await runtime.call(`delete key "${request.name}"`, (n, c) => n.delete(c.handle, located.path), {
    signal: request.signal,
    letFinish: true,
    password: checkPassword(request.password),
    keyPath: located.path,
  });
}
