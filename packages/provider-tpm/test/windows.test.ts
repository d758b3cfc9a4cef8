// The TPM provider's Windows backend (Microsoft Platform Crypto Provider) over the named NCrypt
// double of @keystore/provider-cng's tests: presence from Tbsi_GetDeviceInfo, the TPM's limits,
// and the hardware receipt. The real calls run on Windows only (pcp.windows.test.ts) and, for
// the TPM query, under Wine (windows.int.test.ts).
import { constants, createHash, generateKeyPairSync, verify } from 'node:crypto';
import { createKeyStore, KeyStoreError } from '@keystore/core';
import { MS_PLATFORM_CRYPTO_PROVIDER } from '@keystore/provider-cng/native';
import { describe, expect, it } from 'vitest';
import {
  createNCryptDouble,
  createSystemDouble,
  type SystemState,
} from '../../provider-cng/test/helpers/ncrypt-double.js';
import { measurePlatformCryptoPosture, PCP_CAPABILITIES, pcpProvider, TpmProvider, tpmProvider } from '../src/index.js';

type Manufacturer = { ok: true; value: string } | { ok: false; status: number; reason: string };

/** The system double, answering `tpmManufacturer()` too (a chip by Infineon unless told otherwise). */
function systemDouble(state: Partial<SystemState> = {}, manufacturer: Manufacturer = { ok: true, value: 'IFX' }) {
  return Object.assign(createSystemDouble(state), { tpmManufacturer: () => manufacturer });
}

function overDouble(state: Partial<SystemState> = {}, manufacturer?: Manufacturer) {
  const ncrypt = createNCryptDouble();
  const system = systemDouble(state, manufacturer);
  const provider = pcpProvider({ bindings: { ncrypt: () => ncrypt, system: () => system } });
  return { ncrypt, system, provider };
}

const NO_TPM: Partial<SystemState> = { tpm: { ok: false, status: 0x8028400f, reason: 'TBS_E_TPM_NOT_FOUND' } };

async function rejection(p: Promise<unknown>): Promise<KeyStoreError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!KeyStoreError.is(err)) throw new Error(`expected a KeyStoreError, got ${String(err)}`);
  return err;
}

describe('Platform Crypto Provider posture (Tbsi_GetDeviceInfo over a double)', () => {
  it('a discrete or firmware TPM 2.0 gives hardware', () => {
    for (const tpmInterfaceType of [1, 2, 3, 5]) {
      const posture = measurePlatformCryptoPosture(
        systemDouble({
          tpm: { ok: true, value: { structVersion: 1, tpmVersion: 2, tpmInterfaceType, tpmImpRevision: 1 } },
        }),
      );
      expect(posture).toMatchObject({ available: true, level: 'hardware', best: 'hardware' });
      expect(posture.details.tpmVersion).toBe('2.0');
    }
  });

  it('no TPM (TBS_E_TPM_NOT_FOUND) is unavailable, with the status named', () => {
    const posture = measurePlatformCryptoPosture(systemDouble(NO_TPM));
    expect(posture.available).toBe(false);
    expect(posture.best).toBe('none');
    expect(posture.reasons.join(' ')).toMatch(/TBS_E_TPM_NOT_FOUND/);
  });

  it('a TPM 1.2 is unavailable; an emulated TPM 2.0 is only os-isolated', () => {
    const old = measurePlatformCryptoPosture(
      createSystemDouble({
        tpm: { ok: true, value: { structVersion: 1, tpmVersion: 1, tpmInterfaceType: 3, tpmImpRevision: 0 } },
      }),
    );
    expect(old.available).toBe(false);
    expect(old.reasons.join(' ')).toMatch(/TPM 2\.0/);
    const emu = measurePlatformCryptoPosture(
      systemDouble({
        tpm: { ok: true, value: { structVersion: 1, tpmVersion: 2, tpmInterfaceType: 4, tpmImpRevision: 0 } },
      }),
    );
    expect(emu).toMatchObject({ available: true, level: 'os-isolated' });
  });

  it('a TPM 2.0 in a Hyper-V or cloud virtual machine is virtualization, not hardware', () => {
    const bios = (manufacturer: string, product: string): Partial<SystemState> => ({
      registry: {
        'HARDWARE\\DESCRIPTION\\System\\BIOS\\SystemManufacturer': { ok: true, value: manufacturer },
        'HARDWARE\\DESCRIPTION\\System\\BIOS\\SystemProductName': { ok: true, value: product },
      },
    });
    for (const [m, p] of [
      ['Microsoft Corporation', 'Virtual Machine'],
      ['Google', 'Google Compute Engine'],
      ['Amazon EC2', 'm6i.large'],
    ]) {
      const posture = measurePlatformCryptoPosture(systemDouble(bios(m as string, p as string)));
      expect(posture.level).toBe('virtualization');
      expect(posture.evidence.join(' ')).toMatch(/virtual machine/);
    }
    const laptop = measurePlatformCryptoPosture(systemDouble(bios('LENOVO', '21CBCTO1WW')));
    expect(laptop.level).toBe('hardware');
  });

  it('the manufacturer decides: virtual TPM ids give virtualization, IBM (a software TPM) in-process, a chip hardware', () => {
    const level = (m: Manufacturer) => measurePlatformCryptoPosture(systemDouble({}, m)).level;
    expect(level({ ok: true, value: 'MSFT' })).toBe('virtualization');
    expect(level({ ok: true, value: 'GOOG' })).toBe('virtualization');
    expect(level({ ok: true, value: 'IBM' })).toBe('in-process');
    expect(level({ ok: true, value: 'NTC' })).toBe('hardware');
    const chip = measurePlatformCryptoPosture(systemDouble({}, { ok: true, value: 'STM' }));
    expect(chip.evidence.join(' ')).toMatch(/manufacturer STM/);
    expect(chip.details.manufacturer).toBe('STM');
  });

  it('an unreadable manufacturer is never reported as hardware', () => {
    const posture = measurePlatformCryptoPosture(
      systemDouble({}, { ok: false, status: 0x80284012, reason: 'TBS_E_ACCESS_DENIED' }),
    );
    expect(posture.level).toBe('virtualization');
    expect(posture.reasons.join(' ')).toMatch(/could not be read/);
    const noMethod = measurePlatformCryptoPosture(createSystemDouble({}));
    expect(noMethod.level).toBe('virtualization');
  });

  it('a refused TPM query is unavailable, never a guess', () => {
    const posture = measurePlatformCryptoPosture(
      systemDouble({ tpm: { ok: false, status: 0x80284012, reason: 'access denied' } }),
    );
    expect(posture.available).toBe(false);
  });
});

describe('pcpProvider over the NCrypt double', () => {
  it('opens the Platform Crypto Provider and receipts keys as hardware', async () => {
    const { ncrypt, provider } = overDouble();
    expect(provider.id).toBe('tpm');
    const probe = await provider.probe();
    expect(probe).toMatchObject({ available: true, isolation: 'hardware' });
    const key = await provider.createKey({ name: 'pcp-ec', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    expect(key.isolation.level).toBe('hardware');
    expect(ncrypt.callsOf('openStorageProvider').map((c) => c.args[0])).toContain(MS_PLATFORM_CRYPTO_PROVIDER);
    const digest = createHash('sha256').update('pcp').digest();
    const sig = await key.signDigest(digest, { hash: 'sha256', padding: 'pkcs1', saltLength: 32 });
    expect(
      verify(
        'sha256',
        Buffer.from('pcp'),
        { key: key.publicKey, dsaEncoding: sig.dsaEncoding ?? 'der' },
        sig.signature,
      ),
    ).toBe(true);
    await key.close();
    await provider.deleteKey({ name: 'pcp-ec', scope: 'user' });
  });

  it('an open provider handle is not presence: no TPM means unavailable and no key', async () => {
    const { ncrypt, provider } = overDouble(NO_TPM);
    const probe = await provider.probe();
    expect(probe.available).toBe(false);
    expect(probe.reasons.join(' ')).toMatch(/TBS_E_TPM_NOT_FOUND/);
    const err = await rejection(
      provider.createKey({ name: 'no-tpm', algorithm: 'RSA-2048', scope: 'user', exportable: false }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(ncrypt.callsOf('createPersistedKey')).toHaveLength(0);
  });

  it('refuses what a TPM cannot do before any native call: RSA-4096, P-521, ECDH, exportable keys', async () => {
    const { ncrypt, provider } = overDouble();
    for (const algorithm of ['RSA-3072', 'RSA-4096', 'ECDSA-P521', 'ECDH-P256'] as const) {
      const err = await rejection(provider.createKey({ name: 'too-big', algorithm, scope: 'user', exportable: false }));
      expect(err.code).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
    }
    const err = await rejection(
      provider.createKey({ name: 'exp', algorithm: 'RSA-2048', scope: 'user', exportable: true }),
    );
    expect(['ERR_KEYSTORE_NOT_EXPORTABLE', 'ERR_KEYSTORE_UNSUPPORTED_OPERATION']).toContain(err.code);
    expect(ncrypt.callsOf('createPersistedKey')).toHaveLength(0);
  });

  it('importKey is refused before any native call: no plaintext private blob ever reaches the PCP', async () => {
    const { ncrypt, provider } = overDouble();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const err = await rejection(
      provider.importKey({ name: 'imp', algorithm: 'ECDSA-P256', scope: 'user', exportable: false, privateKey }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(err.hint).toMatch(/createKey/);
    expect(ncrypt.calls).toHaveLength(0);
    expect(PCP_CAPABILITIES.importKeys).toBe(false);
  });

  it('a TPM without P-384 answers NTE_NOT_SUPPORTED: a typed unsupported-algorithm error, no key left', async () => {
    const { ncrypt, provider } = overDouble();
    ncrypt.fail('createPersistedKey', 0x80090029);
    const err = await rejection(
      provider.createKey({ name: 'p384', algorithm: 'ECDSA-P384', scope: 'user', exportable: false }),
    );
    expect(err.code).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
    expect(err.nativeName).toBe('NTE_NOT_SUPPORTED');
    expect(ncrypt.stored('user', 'p384')).toBeUndefined();
  });

  it('serves a KeyStore whose floor is hardware', async () => {
    const { provider } = overDouble();
    const store = await createKeyStore({ providers: [provider], policy: { minimumIsolation: 'hardware' } });
    const key = await store.createKey('hw', { algorithm: 'RSA-2048' });
    const data = Buffer.from('in the TPM');
    expect(await key.verify(data, await key.sign(data))).toBe(true);
    expect(key.isolation.level).toBe('hardware');
    await store.deleteKey(key.ref);
  });

  it('refuses RSA-PSS and ECDSA with SHA-384/512 before any signature is asked, and declares it', async () => {
    const { ncrypt, provider } = overDouble();
    ncrypt.pcpPss = { tpmSalt: 'hash', saltSizeProperty: 2 };
    expect(PCP_CAPABILITIES.signatureHashes).toEqual({ pss: ['sha256'], ecdsa: ['sha256'] });
    const rsa = await provider.createKey({ name: 'pss-hash', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const ec = await provider.createKey({ name: 'ec-hash', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    const before = ncrypt.callsOf('signHash').length;
    for (const hash of ['sha384', 'sha512'] as const) {
      const digest = createHash(hash).update('pss').digest();
      const pss = await rejection(rsa.signDigest(digest, { hash, padding: 'pss', saltLength: digest.length }));
      expect(pss.code).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
      expect(pss.hint).toMatch(/NTE_NOT_SUPPORTED/);
      const ecdsa = await rejection(ec.signDigest(digest, { hash, padding: 'pkcs1', saltLength: digest.length }));
      expect(ecdsa.code).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
    }
    expect(ncrypt.callsOf('signHash').length).toBe(before);
    // PKCS#1 v1.5 with SHA-384 is not limited.
    const d384 = createHash('sha384').update('pkcs1').digest();
    const sig = await rsa.signDigest(d384, { hash: 'sha384', padding: 'pkcs1', saltLength: 48 });
    expect(verify('sha384', Buffer.from('pkcs1'), rsa.publicKey, sig.signature)).toBe(true);
    await rsa.close();
    await ec.close();
  });

  it('a TPM of spec 1.16+ ("PSS Salt Size" = hash size): the digest-length salt, asked with NCRYPT_TPM_PAD_PSS_IGNORE_SALT; any other refused with the reason', async () => {
    const { ncrypt, provider } = overDouble();
    ncrypt.pcpPss = { tpmSalt: 'hash', saltSizeProperty: 2 };
    const key = await provider.createKey({ name: 'pss', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const digest = createHash('sha256').update('pss').digest();
    const before = ncrypt.callsOf('signHash').length;
    const err = await rejection(key.signDigest(digest, { hash: 'sha256', padding: 'pss', saltLength: 20 }));
    expect(err.code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(err.message).toMatch(/spec 1\.16 or later.*digest length \(32 bytes/);
    expect(ncrypt.callsOf('signHash').length).toBe(before);
    const ok = await key.signDigest(digest, { hash: 'sha256', padding: 'pss', saltLength: 32 });
    expect(ncrypt.callsOf('signHash').at(-1)?.args[3]).toBe(0x20);
    expect(
      verify(
        'sha256',
        Buffer.from('pss'),
        { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        ok.signature,
      ),
    ).toBe(true);
    await key.close();
  });

  it('a TPM before spec 1.16 ("PSS Salt Size" = maximum): the maximum salt signs, the digest length is refused', async () => {
    const { ncrypt, provider } = overDouble();
    ncrypt.pcpPss = { tpmSalt: 'maximum', saltSizeProperty: 1 };
    const key = await provider.createKey({ name: 'pss-old', algorithm: 'RSA-2048', scope: 'user', exportable: false });
    const digest = createHash('sha256').update('old').digest();
    const max = 256 - 32 - 2;
    const err = await rejection(key.signDigest(digest, { hash: 'sha256', padding: 'pss', saltLength: 32 }));
    expect(err.code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
    expect(err.hint).toMatch(new RegExp(`saltLength ${max}`));
    const ok = await key.signDigest(digest, { hash: 'sha256', padding: 'pss', saltLength: max });
    expect(
      verify(
        'sha256',
        Buffer.from('old'),
        { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: max },
        ok.signature,
      ),
    ).toBe(true);
    await key.close();
  });

  it('a salt size the TPM does not state goes to the TPM as asked; a salt it cannot make is a typed error', async () => {
    const { ncrypt, provider } = overDouble();
    ncrypt.pcpPss = { tpmSalt: 'maximum' }; // "PSS Salt Size" unreadable, as before Windows 10 1809
    const key = await provider.createKey({
      name: 'pss-unknown',
      algorithm: 'RSA-2048',
      scope: 'user',
      exportable: false,
    });
    const digest = createHash('sha256').update('unknown').digest();
    const err = await rejection(key.signDigest(digest, { hash: 'sha256', padding: 'pss', saltLength: 32 }));
    expect(err.code).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
    expect(err.nativeName).toBe('TPM_E_PCP_UNSUPPORTED_PSS_SALT');
    expect(ncrypt.callsOf('signHash').at(-1)?.args[3]).toBe(0);
    await key.close();
  });

  it('a TPM 2.0 response code the PCP passes through is a typed unsupported-algorithm error', async () => {
    const { ncrypt, provider } = overDouble();
    const key = await provider.createKey({ name: 'rc', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    ncrypt.fail('signHash', 0x80280092);
    const digest = createHash('sha256').update('rc').digest();
    const err = await rejection(key.signDigest(digest, { hash: 'sha256', padding: 'pkcs1', saltLength: 32 }));
    expect(err.code).toBe('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM');
    expect(err.nativeName).toBe('TPM_20_E_SCHEME');
    await key.close();
  });

  it('capabilities state the TPM limits', () => {
    expect(PCP_CAPABILITIES.algorithms).toEqual(['RSA-2048', 'ECDSA-P256', 'ECDSA-P384']);
    expect(PCP_CAPABILITIES.exportableKeys).toBe(false);
  });
});

describe('tpmProvider() picks the backend of the platform', () => {
  it.skipIf(process.platform === 'win32')('on Linux it is the FAPI backend', () => {
    expect(tpmProvider()).toBeInstanceOf(TpmProvider);
  });
});
