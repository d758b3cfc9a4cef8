/**
 * The CryptoAPI steps of creating and importing a key: a new container (`CRYPT_NEWKEYSET`) with the key
 * put in it, deleted again when that fails.
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';
import type { KeyAlgorithm, KeyScope } from '@keystore/core';
import { publicKeyFromBlob } from './blobs.js';
import {
  AT_KEYEXCHANGE,
  AT_SIGNATURE,
  CRYPT_EXPORTABLE,
  CRYPT_MACHINE_KEYSET,
  CRYPT_NEWKEYSET,
  CRYPT_SILENT,
  PUBLICKEYBLOB,
} from './constants.js';
import type { CapiKeySpec } from './key.js';
import { acquire, deleteContainer } from './keysets.js';
import type { AdvapiBindings } from './native/advapi32.js';
import { capiError } from './status.js';

/**
 * Makes a new container and generates an RSA key pair of `keySpec` in it (on a worker thread), then
 * releases its handles so that rsaenh stores it. Returns the new public key; when generation fails
 * the container is deleted again.
 */
export async function generateInContainer(
  native: AdvapiBindings,
  name: string,
  scope: KeyScope,
  keySpec: CapiKeySpec,
  algorithm: KeyAlgorithm,
  bits: number,
  exportable: boolean,
): Promise<KeyObject> {
  const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
  const prov = acquire(
    native,
    name,
    CRYPT_NEWKEYSET | CRYPT_SILENT | machine,
    `create key container "${name}" (${scope} scope)`,
  );
  let generated: KeyObject | undefined;
  try {
    const spec = keySpec === 'signature' ? AT_SIGNATURE : AT_KEYEXCHANGE;
    const made = await native.CryptGenKeyAsync(prov, spec, (bits << 16) | (exportable ? CRYPT_EXPORTABLE : 0));
    if (made.status !== 0 || made.value === undefined) {
      throw capiError(made.status, `generate an ${algorithm} key in container "${name}"`);
    }
    try {
      // Kept to check the key the caller opens again is this one (the container is not locked
      // against other processes in between).
      const blob = native.CryptExportKey(made.value, PUBLICKEYBLOB);
      if (blob.status !== 0 || blob.value === undefined) {
        throw capiError(blob.status, `export the public key of the new key "${name}"`);
      }
      generated = publicKeyFromBlob(blob.value).publicKey;
    } finally {
      native.CryptDestroyKey(made.value);
    }
  } finally {
    // rsaenh stores a new key when its handles are released: release now, then open it again.
    native.CryptReleaseContext(prov);
    if (generated === undefined) deleteContainer(native, name, scope);
  }
  return generated;
}

/**
 * Makes a new container and imports a `PRIVATEKEYBLOB` into it, then releases its handles so that
 * rsaenh stores it; when the import fails the container is deleted again.
 */
export function importIntoContainer(
  native: AdvapiBindings,
  name: string,
  scope: KeyScope,
  blob: Buffer,
  exportable: boolean,
): void {
  const machine = scope === 'machine' ? CRYPT_MACHINE_KEYSET : 0;
  const prov = acquire(
    native,
    name,
    CRYPT_NEWKEYSET | CRYPT_SILENT | machine,
    `create key container "${name}" (${scope} scope)`,
  );
  let imported = false;
  try {
    const made = native.CryptImportKey(prov, blob, exportable ? CRYPT_EXPORTABLE : 0);
    if (made.status !== 0 || made.value === undefined) {
      throw capiError(made.status, `import a private key into container "${name}"`);
    }
    native.CryptDestroyKey(made.value);
    imported = true;
  } finally {
    native.CryptReleaseContext(prov);
    if (!imported) deleteContainer(native, name, scope);
  }
}
