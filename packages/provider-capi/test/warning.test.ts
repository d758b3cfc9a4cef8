// The legacy warning: emitted once per process, on the first use of a key (create, open, import),
// with a stable code, naming the risk and the migration command. Over the native double.

import { generateKeyPairSync } from 'node:crypto';
import { TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CapiProvider, LEGACY_CRYPTOAPI_WARNING_CODE, migrationCommand } from '../src/index.js';
import { createAdvapiDouble } from './helpers/advapi-double.js';

const FLAG = Symbol.for('@keystore/provider-capi/legacy-warning-emitted');
const warnings: Error[] = [];
const listen = (w: Error) => warnings.push(w);
const ours = () => warnings.filter((w) => (w as Error & { code?: string }).code === LEGACY_CRYPTOAPI_WARNING_CODE);

beforeEach(() => {
  delete (globalThis as Record<symbol, unknown>)[FLAG];
  warnings.length = 0;
  process.on('warning', listen);
});

afterEach(() => {
  process.off('warning', listen);
});

/** Warnings are delivered on a later tick. */
const settle = () => new Promise((r) => setImmediate(r));

describe('the legacy CryptoAPI warning', () => {
  it('is a SecurityWarning with code KEYSTORE_LEGACY_CRYPTOAPI, emitted once however many keys are used', async () => {
    const native = createAdvapiDouble();
    const provider = new CapiProvider({ native, [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
    const first = await provider.createKey({ name: 'first', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const opened = await provider.openKey({ name: 'first', scope: 'user' });
    // Another provider instance in the same process: still no second warning.
    const other = new CapiProvider({ native, [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
    const again = await other.openKey({ name: 'first', scope: 'user' });
    await settle();
    expect(ours()).toHaveLength(1);
    const [warning] = ours();
    expect(warning?.name).toBe('SecurityWarning');
    expect(LEGACY_CRYPTOAPI_WARNING_CODE).toBe('KEYSTORE_LEGACY_CRYPTOAPI');
    expect(warning?.message).toContain(migrationCommand('first'));
    await Promise.all([first.close(), opened.close(), again.close()]);
  });

  it('comes with the first open, and with an import, not with listing, deleting or probing', async () => {
    const native = createAdvapiDouble();
    native.addKey('user', 'old', 1, 2048);
    const provider = new CapiProvider({ native, [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
    await provider.probe();
    await provider.listKeys();
    await settle();
    expect(ours()).toHaveLength(0);
    const key = await provider.openKey({ name: 'old', scope: 'user' });
    await settle();
    expect(ours()).toHaveLength(1);
    await key.close();
    await provider.deleteKey({ name: 'old', scope: 'user' });

    delete (globalThis as Record<symbol, unknown>)[FLAG];
    const imported = await provider.importKey({
      name: 'imp',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
      privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    });
    await settle();
    expect(ours()).toHaveLength(2);
    await imported.close();
  });

  it('is not emitted when the request is refused before any key is touched', async () => {
    const provider = new CapiProvider({
      native: createAdvapiDouble(),
      [TEST_POLICY_SOURCES]: { machinePolicy: { legacyCryptoApi: 'deny' } },
    });
    await provider.openKey({ name: 'k', scope: 'user' }).catch(() => {});
    await new CapiProvider({
      native: createAdvapiDouble(),
      [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null },
    })
      .openKey({ name: 'bad\\name', scope: 'user' })
      .catch(() => {});
    await settle();
    expect(ours()).toHaveLength(0);
  });
});

describe('migrationCommand', () => {
  it('prints the command, quoting names the shell would split', () => {
    expect(migrationCommand('signing')).toBe('keystore migrate --from capi:signing --to cng');
    expect(migrationCommand('my key')).toBe('keystore migrate --from "capi:my key" --to cng');
    expect(migrationCommand('{GUID}')).toBe('keystore migrate --from "capi:{GUID}" --to cng');
    expect(migrationCommand('a"$b')).toBe('keystore migrate --from "capi:a\\"\\$b" --to cng');
  });
});
