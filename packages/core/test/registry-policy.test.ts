// The machine policy in the Windows registry, on any platform: parsing reg.exe's output, turning the
// key's values into a policy, and merging it, with an injected reader (a named double of reg.exe).
// registry-policy.int.test.ts runs the real reg.exe under Wine.
import {
  KeyStoreError,
  loadRegistryPolicy,
  REGISTRY_POLICY_KEY,
  type RegistryKeyContents,
  type RegistryReader,
  type RegistryValue,
  readRegistryKey,
} from '@keystore/core';
import { createMemoryProvider, createTestKeyStore, resolveTestPolicy } from '@keystore/core/testing';
import { describe, expect, it } from 'vitest';
import { parseRegQueryOutput, registryPolicyFromContents, windowsDirectory } from '../src/policy/registry.js';

async function errorOf(promise: Promise<unknown> | (() => unknown)): Promise<KeyStoreError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    if (KeyStoreError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

const sz = (name: string, data: string): RegistryValue => ({ name, type: 'REG_SZ', data });
const multi = (name: string, ...data: string[]): RegistryValue => ({ name, type: 'REG_MULTI_SZ', data });
const dword = (name: string, data: number): RegistryValue => ({ name, type: 'REG_DWORD', data });

/** A reader double that serves one key's contents (or none) and records what it was asked. */
function fakeReader(contents: RegistryKeyContents | null): RegistryReader & { keys: string[] } {
  const keys: string[] = [];
  const reader = async (key: string) => {
    keys.push(key);
    return contents;
  };
  return Object.assign(reader, { keys });
}

describe('parseRegQueryOutput', () => {
  // Captured from Wine 8.0's reg.exe (`reg query KEY /s`), CRLF line ends.
  const WINE = [
    '',
    'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\keystore',
    '    AllowedAlgorithms    REG_MULTI_SZ    ECDSA-P256\\0RSA-3072',
    '    Bin    REG_BINARY    0A0B',
    '    Empty    REG_SZ    ',
    '    EmptyMulti    REG_MULTI_SZ    ',
    '    MinimumIsolation    REG_SZ    os-protected',
    '    MinimumRsaBits    REG_DWORD    0xc00',
    '    With Space    REG_EXPAND_SZ    %SystemRoot%\\x',
    '',
    'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\keystore\\sub',
    '    X    REG_QWORD    (null)',
    '',
    '',
  ].join('\r\n');

  it('reads every value type directly under the key, and the subkeys', () => {
    const contents = parseRegQueryOutput(WINE, 'HKLM\\SOFTWARE\\Policies\\keystore');
    expect(contents.values).toEqual([
      { name: 'AllowedAlgorithms', type: 'REG_MULTI_SZ', data: ['ECDSA-P256', 'RSA-3072'] },
      { name: 'Bin', type: 'REG_BINARY', data: '0A0B' },
      { name: 'Empty', type: 'REG_SZ', data: '' },
      { name: 'EmptyMulti', type: 'REG_MULTI_SZ', data: [] },
      { name: 'MinimumIsolation', type: 'REG_SZ', data: 'os-protected' },
      { name: 'MinimumRsaBits', type: 'REG_DWORD', data: 3072 },
      { name: 'With Space', type: 'REG_EXPAND_SZ', data: '%SystemRoot%\\x' },
    ]);
    expect(contents.subkeys).toEqual(['sub']);
  });

  it('matches the key without regard to case or hive spelling, and skips the default value', () => {
    const output = [
      '',
      'HKEY_LOCAL_MACHINE\\Software\\Policies\\KeyStore',
      '    (Default)    REG_SZ    (value not set)',
      '    ExportableCreate    REG_DWORD    0x1',
      '',
    ].join('\n');
    const contents = parseRegQueryOutput(output, 'hklm\\SOFTWARE\\policies\\keystore');
    expect(contents.values).toEqual([{ name: 'ExportableCreate', type: 'REG_DWORD', data: 1 }]);
    expect(contents.subkeys).toEqual([]);
  });

  it('accepts Windows-style output: localized default names, headers without blank lines, REG_QWORD', () => {
    const output = [
      '',
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\keystore',
      '    (Standard)    REG_SZ    (Wert nicht festgelegt)',
      '    MinimumRsaBits    REG_QWORD    0xc00',
      '    ProvidersAllow    REG_MULTI_SZ    ',
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\keystore\\a',
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\keystore\\a\\deeper',
      '',
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\keystore\\b',
      '    (Default)    REG_SZ    ',
      '',
    ].join('\r\n');
    const contents = parseRegQueryOutput(output, REGISTRY_POLICY_KEY);
    expect(contents.values).toEqual([
      { name: 'MinimumRsaBits', type: 'REG_QWORD', data: 3072 },
      { name: 'ProvidersAllow', type: 'REG_MULTI_SZ', data: [] },
    ]);
    expect(contents.subkeys).toEqual(['a', 'b']);
  });

  // What Wine 8.0's reg.exe prints for MinimumIsolation = "in-process\r\njunk" (values sorted by name).
  const head = ['', 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\keystore'];
  const unreadable: Array<[string, string[]]> = [
    [
      'a REG_SZ whose data holds CR LF, the next line looking like a key header',
      [
        ...head,
        '    MinimumIsolation    REG_SZ    in-process',
        'junk',
        '    LegacyCryptoApi    REG_SZ    deny',
        '    ProvidersDeny    REG_MULTI_SZ    capi',
        '',
      ],
    ],
    [
      'data that ends in a line break (a value line after a blank line)',
      [...head, '    MinimumIsolation    REG_SZ    in-process', '', '    LegacyCryptoApi    REG_SZ    deny', ''],
    ],
    ['a lone carriage return inside data', [...head, '    MinimumIsolation    REG_SZ    in-process\rjunk', '']],
    [
      'data continuing with the key header itself',
      [...head, '    MinimumIsolation    REG_SZ    none', ...head.slice(1), '    LegacyCryptoApi    REG_SZ    allow'],
    ],
    [
      'data continuing with a value line that repeats a value name',
      [...head, '    LegacyCryptoApi    REG_SZ    deny', '    LegacyCryptoApi    REG_SZ    allow', ''],
    ],
    ['a tab-indented line', [...head, '\tMinimumIsolation    REG_SZ    hardware', '']],
    ['a line indented by three spaces', [...head, '   MinimumIsolation    REG_SZ    hardware', '']],
    ['an indented line that is not a value line', [...head, '    MinimumIsolation REG_SZ hardware', '']],
    ['a trailer reg.exe does not print', [...head, '    MinimumIsolation    REG_SZ    hardware', '', 'done.', '']],
    ['no header at all (exit 0, empty output)', ['']],
    ['the header of another key only', ['', 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\other', '    X    REG_SZ    y']],
    ['a value line before the header', ['    MinimumIsolation    REG_SZ    hardware', ...head]],
    ['a parent key header', ['', 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies', ...head]],
  ];

  it.each(unreadable)('fails closed on %s: NATIVE_FAILURE naming the line', async (_label, lines) => {
    const error = await errorOf(() => parseRegQueryOutput(lines.join('\r\n'), REGISTRY_POLICY_KEY));
    expect(error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(error.message).toContain(REGISTRY_POLICY_KEY);
  });

  it('a policy read through the parser fails closed: createKeyStore refuses, nothing is dropped silently', async () => {
    const output = [
      ...head,
      '    MinimumIsolation    REG_SZ    in-process',
      'junk',
      '    LegacyCryptoApi    REG_SZ    deny',
      '    ProvidersDeny    REG_MULTI_SZ    capi',
      '',
    ].join('\r\n');
    const reader: RegistryReader = async (key) => parseRegQueryOutput(output, key);
    const load = await errorOf(loadRegistryPolicy({ platform: 'win32', reader }));
    expect(load.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    // Data that continues with a key header below the key shows up as a subkey, which the policy refuses.
    const subkey = [...head, '    MinimumIsolation    REG_SZ    none', `${head[1]}\\x`, '    A    REG_SZ    b'];
    const subkeyReader: RegistryReader = async (key) => parseRegQueryOutput(subkey.join('\r\n'), key);
    const refused = await errorOf(loadRegistryPolicy({ platform: 'win32', reader: subkeyReader }));
    expect(refused.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(refused.issues.map((i) => i.pointer)).toEqual(['']);
  });
});

describe('windowsDirectory (where reg.exe is run from)', () => {
  const noLink = () => {
    throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  };

  it("takes the object manager's \\SystemRoot link over the environment", () => {
    const asked: string[] = [];
    const realpath = (path: string) => {
      asked.push(path);
      return 'C:\\Windows';
    };
    expect(
      windowsDirectory({ realpath, env: { SystemRoot: 'C:\\Users\\x\\fake', windir: 'C:\\Users\\x\\fake' } }),
    ).toEqual({ path: 'C:\\Windows', source: 'object-manager' });
    expect(asked).toEqual(['\\\\?\\GLOBALROOT\\SystemRoot']);
  });

  it('where the link does not resolve to a drive path (Wine), takes SystemRoot, else windir, else C:\\Windows', () => {
    expect(windowsDirectory({ realpath: noLink, env: { SYSTEMROOT: 'D:\\Win\\', WINDIR: 'd:\\win' } })).toEqual({
      path: 'D:\\Win',
      source: 'environment',
    });
    expect(windowsDirectory({ realpath: () => '\\\\?\\Volume{0}\\Windows', env: { windir: 'E:\\W' } })).toEqual({
      path: 'E:\\W',
      source: 'environment',
    });
    expect(windowsDirectory({ realpath: noLink, env: {} })).toEqual({ path: 'C:\\Windows', source: 'default' });
  });

  it.each([
    ['a relative SystemRoot', { SystemRoot: 'Windows' }],
    ['a UNC SystemRoot', { SystemRoot: '\\\\server\\share\\Windows' }],
    ['a device path', { SystemRoot: '\\\\?\\C:\\Windows' }],
    ['dot-dot segments', { SystemRoot: 'C:\\Windows\\..\\Users\\x' }],
    ['SystemRoot and windir disagreeing', { SystemRoot: 'C:\\Windows', windir: 'C:\\Users\\x' }],
  ])('refuses %s with NATIVE_FAILURE', async (_label, env) => {
    expect((await errorOf(() => windowsDirectory({ realpath: noLink, env }))).code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
  });
});

describe('registryPolicyFromContents', () => {
  it('maps every value to its field', () => {
    const policy = registryPolicyFromContents({
      values: [
        sz('MinimumIsolation', 'os-protected'),
        multi('ProvidersAllow', 'tpm', 'cng'),
        multi('ProvidersDeny', 'capi'),
        multi('ProvidersPrefer', 'tpm'),
        sz('LegacyCryptoApi', 'deny'),
        dword('ExportableCreate', 0),
        dword('ExportableExport', 1),
        multi('AllowedAlgorithms', 'ECDSA-P256', 'RSA-3072'),
        dword('MinimumRsaBits', 3072),
        multi('AllowedScopes', 'user'),
      ],
    });
    expect(policy).toEqual({
      minimumIsolation: 'os-protected',
      providers: { allow: ['tpm', 'cng'], deny: ['capi'], prefer: ['tpm'] },
      legacyCryptoApi: 'deny',
      exportable: { create: false, export: true },
      allowedAlgorithms: ['ECDSA-P256', 'RSA-3072'],
      minimumRsaBits: 3072,
      allowedScopes: ['user'],
    });
  });

  it('matches value names without regard to case; an empty key is an empty policy', () => {
    expect(registryPolicyFromContents({ values: [sz('minimumisolation', 'hardware')] })).toEqual({
      minimumIsolation: 'hardware',
    });
    expect(registryPolicyFromContents({ values: [] })).toEqual({});
    expect(registryPolicyFromContents({ values: [multi('ProvidersAllow')] })).toEqual({ providers: { allow: [] } });
  });

  it('reads a whole JSON document from the Policy value', () => {
    const json = JSON.stringify({ minimumIsolation: 'hardware', providers: { deny: ['capi'] } });
    expect(registryPolicyFromContents({ values: [sz('Policy', json)] })).toEqual({
      minimumIsolation: 'hardware',
      providers: { deny: ['capi'] },
    });
  });

  const invalid: Array<[string, RegistryKeyContents, string[], RegExp]> = [
    [
      'an unknown value',
      { values: [sz('MinimumIsolaton', 'hardware')] },
      [''],
      /unknown registry value "MinimumIsolaton"/,
    ],
    [
      'a value of the wrong type',
      { values: [sz('MinimumRsaBits', '3072')] },
      ['/minimumRsaBits'],
      /MinimumRsaBits must be REG_DWORD, not REG_SZ/,
    ],
    [
      'a list as REG_SZ',
      { values: [sz('ProvidersDeny', 'capi,memory')] },
      ['/providers/deny'],
      /ProvidersDeny must be REG_MULTI_SZ/,
    ],
    [
      'a flag other than 0 or 1',
      { values: [dword('ExportableCreate', 2)] },
      ['/exportable/create'],
      /REG_DWORD 0 \(false\) or 1 \(true\)/,
    ],
    [
      'a field the policy schema refuses',
      { values: [sz('MinimumIsolation', 'titanium')] },
      ['/minimumIsolation'],
      /registry value MinimumIsolation: minimumIsolation must be one of/,
    ],
    [
      'a bad list item',
      { values: [multi('ProvidersAllow', 'tpm', 'not an id')] },
      ['/providers/allow/1'],
      /registry value ProvidersAllow \(item 1\)/,
    ],
    [
      'an RSA size below the schema minimum',
      { values: [dword('MinimumRsaBits', 512)] },
      ['/minimumRsaBits'],
      /registry value MinimumRsaBits/,
    ],
    [
      'both forms at once',
      { values: [sz('Policy', '{}'), sz('MinimumIsolation', 'hardware')] },
      [''],
      /use one form or the other/,
    ],
    ['a Policy value that is not JSON', { values: [sz('Policy', '{ nope')] }, [''], /Policy is not valid JSON/],
    [
      'a Policy document that is not a valid policy',
      { values: [sz('Policy', '{"minimumIsolation":"tpm"}')] },
      ['/minimumIsolation'],
      /registry value Policy: minimumIsolation must be one of/,
    ],
    [
      'a Policy value that is not REG_SZ',
      { values: [{ name: 'Policy', type: 'REG_EXPAND_SZ', data: '{}' }] },
      [''],
      /Policy must be REG_SZ/,
    ],
    ['values in a subkey', { values: [], subkeys: ['Providers'] }, [''], /subkey "Providers"/],
    [
      'several problems at once: each is reported',
      { values: [sz('MinimumIsolation', 'titanium'), sz('MinimumRsaBits', '3072'), sz('Colour', 'blue')] },
      ['/minimumRsaBits', '', '/minimumIsolation'],
      /Colour/,
    ],
  ];

  it.each(invalid)('fails closed on %s: INVALID_POLICY naming the value', async (_label, contents, pointers, text) => {
    const error = await errorOf(() => registryPolicyFromContents(contents));
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.issues.map((issue) => issue.pointer)).toEqual(pointers);
    expect(error.message).toContain(REGISTRY_POLICY_KEY);
    // The value's name, which an administrator looks for, is in the issue.
    expect(error.issues.map((issue) => issue.message).join(' ')).toMatch(text);
  });
});

describe('loadRegistryPolicy', () => {
  it('reads nothing elsewhere than Windows', async () => {
    const reader = fakeReader({ values: [sz('MinimumIsolation', 'hardware')] });
    expect(await loadRegistryPolicy({ platform: 'linux', reader })).toEqual({
      policy: null,
      key: REGISTRY_POLICY_KEY,
    });
    expect(reader.keys).toEqual([]);
  });

  it('reads HKLM\\SOFTWARE\\Policies\\keystore on Windows; no key, no policy', async () => {
    const reader = fakeReader({ values: [sz('MinimumIsolation', 'hardware')] });
    expect(await loadRegistryPolicy({ platform: 'win32', reader })).toEqual({
      policy: { minimumIsolation: 'hardware' },
      key: 'HKLM\\SOFTWARE\\Policies\\keystore',
    });
    expect(reader.keys).toEqual(['HKLM\\SOFTWARE\\Policies\\keystore']);
    expect((await loadRegistryPolicy({ platform: 'win32', reader: fakeReader(null) })).policy).toBeNull();
  });

  it('passes a reader failure through (fail closed), and checks what the reader returns', async () => {
    const denied = new KeyStoreError('ERR_KEYSTORE_ACCESS_DENIED', 'no');
    const failing: RegistryReader = async () => {
      throw denied;
    };
    expect(await errorOf(loadRegistryPolicy({ platform: 'win32', reader: failing }))).toBe(denied);
    const nonsense = (async () => ({ values: 'x' })) as unknown as RegistryReader;
    expect((await errorOf(loadRegistryPolicy({ platform: 'win32', reader: nonsense }))).code).toBe(
      'ERR_KEYSTORE_INVALID_ARGUMENT',
    );
  });

  it('an aborted signal rejects before the reader is called', async () => {
    const reader = fakeReader(null);
    const error = await errorOf(loadRegistryPolicy({ platform: 'win32', reader, signal: AbortSignal.abort() }));
    expect(error.code).toBe('ERR_KEYSTORE_CANCELLED');
    expect(reader.keys).toEqual([]);
  });
});

describe('resolvePolicy and createKeyStore with the registry', () => {
  const registry = fakeReader({
    values: [sz('MinimumIsolation', 'os-protected'), multi('ProvidersDeny', 'capi'), dword('ExportableCreate', 0)],
  });

  it('the registry caps a weaker app policy, field by field, and is named as the source', async () => {
    const effective = await resolveTestPolicy({
      app: { minimumIsolation: 'none', exportable: { create: true }, minimumRsaBits: 4096 },
      machine: null,
      platform: 'win32',
      registryReader: registry,
    });
    expect(effective.minimumIsolation).toBe('os-protected');
    expect(effective.providers.deny).toEqual(['capi']);
    expect(effective.exportable.create).toBe(false);
    expect(effective.minimumRsaBits).toBe(4096);
    expect(effective.sources).toMatchObject({
      '/minimumIsolation': 'registry',
      '/providers/deny': 'registry',
      '/exportable/create': 'registry',
      '/minimumRsaBits': 'app',
    });
    expect(effective.registryPolicyKey).toBe(REGISTRY_POLICY_KEY);
  });

  it('file and registry both apply: the stricter of the two, each credited', async () => {
    const effective = await resolveTestPolicy({
      app: {},
      machine: { minimumIsolation: 'hardware', minimumRsaBits: 3072 },
      platform: 'win32',
      registryReader: registry,
    });
    expect(effective.minimumIsolation).toBe('hardware');
    expect(effective.sources['/minimumIsolation']).toBe('machine');
    expect(effective.minimumRsaBits).toBe(3072);
    expect(effective.sources['/minimumRsaBits']).toBe('machine');
    expect(effective.providers.deny).toEqual(['capi']);
    expect(effective.sources['/providers/deny']).toBe('registry');
  });

  it('registry: null reads nothing; an object is used as it is', async () => {
    const reader = fakeReader({ values: [sz('MinimumIsolation', 'hardware')] });
    const none = await resolveTestPolicy({ machine: null, platform: 'win32', registry: null, registryReader: reader });
    expect(none.minimumIsolation).toBe('os-isolated');
    expect(none.registryPolicyKey).toBeNull();
    const given = await resolveTestPolicy({ machine: null, platform: 'win32', registry: { minimumRsaBits: 4096 } });
    expect(given.minimumRsaBits).toBe(4096);
    expect(given.sources['/minimumRsaBits']).toBe('registry');
    expect(reader.keys).toEqual([]);
  });

  it('createKeyStore takes a registry policy, and fails closed on an invalid one', async () => {
    const store = await createTestKeyStore({
      providers: [createMemoryProvider()],
      machinePolicy: null,
      registryPolicy: { minimumIsolation: 'hardware' },
    });
    expect(store.policy.minimumIsolation).toBe('hardware');
    expect(store.policy.sources['/minimumIsolation']).toBe('registry');
    const error = await errorOf(
      createTestKeyStore({
        providers: [],
        machinePolicy: null,
        registryPolicy: { minimumIsolation: 'titanium' } as never,
      }),
    );
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('createKeyStore refuses a registryReader that is not a function', async () => {
    const error = await errorOf(
      createTestKeyStore({ providers: [], machinePolicy: null, registryReader: 'reg.exe' as never }),
    );
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });
});

describe('readRegistryKey', () => {
  it.each([
    ['not a string', 42],
    ['no hive', 'SOFTWARE\\Policies\\keystore'],
    ['an unknown hive', 'HKXX\\SOFTWARE'],
    ['a quote', 'HKLM\\SOFTWARE\\"x'],
    ['a control character', 'HKLM\\SOFTWARE\\a\nb'],
    ['an empty segment', 'HKLM\\\\SOFTWARE'],
  ])('refuses a key path with %s before running anything', async (_label, key) => {
    expect((await errorOf(readRegistryKey(key as string))).code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
  });

  it.skipIf(process.platform === 'win32')(
    'where reg.exe does not exist (not Windows), fails closed with NATIVE_FAILURE and a hint',
    async () => {
      const error = await errorOf(readRegistryKey(REGISTRY_POLICY_KEY));
      expect(error.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
      expect(error.hint).toContain('reg.exe');
    },
  );
});
