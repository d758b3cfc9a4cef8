// The provider on real Windows: the conformance suite on the real rsaenh, and the container files
// where docs/providers/capi.md says CryptoAPI keeps them. Skipped elsewhere, with the reason.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineProviderConformanceSuite, TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capiProvider } from '../src/index.js';

const onWindows = process.platform === 'win32';
const NEEDS = 'needs Windows: real rsaenh key storage in %APPDATA%\\Microsoft\\Crypto\\RSA';

describe.skipIf(!onWindows)(`CryptoAPI provider on Windows (${onWindows ? 'Windows' : NEEDS})`, () => {
  defineProviderConformanceSuite({
    name: 'capi on Windows',
    createProvider: () => capiProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } }),
    test: { describe, it, beforeAll, afterAll },
    skip: {
      pss: 'CryptoAPI signs RSA with PKCS#1 v1.5 only (CryptSignHash has no PSS)',
      passwords: 'CryptoAPI key containers have no passwords (CRYPT_USER_PROTECTED shows a prompt instead)',
    },
    timeout: 60_000,
  });

  it('a user container is a file under %APPDATA%\\Microsoft\\Crypto\\RSA\\<SID>, holding the container name', async () => {
    const provider = capiProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } });
    const name = `windows-files-${randomBytes(4).toString('hex')}`;
    const key = await provider.createKey({ name, algorithm: 'RSA-2048', scope: 'user', exportable: false });
    try {
      const root = join(process.env.APPDATA ?? '', 'Microsoft', 'Crypto', 'RSA');
      expect(existsSync(root)).toBe(true);
      const files = readdirSync(root, { withFileTypes: true })
        .filter((d) => d.isDirectory() && d.name.startsWith('S-1-'))
        .flatMap((d) => readdirSync(join(root, d.name)).map((f) => join(root, d.name, f)));
      // The file's header carries the container name in ASCII.
      expect(files.some((f) => readFileSync(f).includes(Buffer.from(name, 'latin1')))).toBe(true);
    } finally {
      await key.close();
      await provider.deleteKey({ name, scope: 'user' });
    }
  });
});
