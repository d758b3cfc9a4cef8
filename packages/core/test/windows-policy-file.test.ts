// The Windows machine policy file, on any platform: where it is (the registry, never the
// environment), and the owner/DACL verdict over SDDL, with injected doubles of reg.exe and of the
// security reader. windows-policy-file.int.test.ts runs Windows code under Wine;
// windows-policy-file.windows.test.ts runs on real Windows.
import type { RegistryKeyContents, RegistryReader } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { parseSddl, sddlWriteProblems } from '../src/policy/windows-acl.js';
import {
  checkWindowsPolicyFile,
  locateWindowsPolicyFile,
  parsePowerShellOutput,
  type WindowsSecurityEntry,
  type WindowsSecurityReader,
  windowsPolicyFilePath,
} from '../src/policy/windows-file.js';
import { codeOf, errorOf } from './helpers/errors.js';

const PROFILE_LIST = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList';
const TI = 'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464';

function profileList(contents: RegistryKeyContents | null): RegistryReader & { keys: string[] } {
  const keys: string[] = [];
  return Object.assign(
    async (key: string) => {
      keys.push(key);
      return contents;
    },
    { keys },
  );
}

const objectManager =
  (path = 'D:\\Windows') =>
  () => ({ path, source: 'object-manager' as const });

describe('windowsPolicyFilePath: from ProfileList, never the environment', () => {
  it('expands %SystemDrive% from the drive of the Windows directory, and reads only ProfileList', async () => {
    const reader = profileList({
      values: [{ name: 'ProgramData', type: 'REG_EXPAND_SZ', data: '%SystemDrive%\\ProgramData' }],
      subkeys: ['S-1-5-18'],
    });
    const saved = process.env.ProgramData;
    process.env.ProgramData = 'C:\\Users\\mallory\\planted';
    try {
      const location = await locateWindowsPolicyFile({ registryReader: reader, windowsDirectory: objectManager() });
      expect(location.path).toBe('D:\\ProgramData\\keystore\\policy.json');
      expect(location.source).toBe('registry');
      expect(location.detail).toContain('object manager');
      expect(await windowsPolicyFilePath({ registryReader: reader, windowsDirectory: objectManager() })).toBe(
        'D:\\ProgramData\\keystore\\policy.json',
      );
    } finally {
      if (saved === undefined) delete process.env.ProgramData;
      else process.env.ProgramData = saved;
    }
    expect(reader.keys).toEqual([PROFILE_LIST, PROFILE_LIST]);
  });

  it('takes a REG_SZ path as it is (Wine writes one), and %SystemRoot% from the Windows directory', async () => {
    const plain = profileList({ values: [{ name: 'programdata', type: 'REG_SZ', data: 'E:\\Data' }] });
    expect(await windowsPolicyFilePath({ registryReader: plain, windowsDirectory: objectManager() })).toBe(
      'E:\\Data\\keystore\\policy.json',
    );
    const root = profileList({ values: [{ name: 'ProgramData', type: 'REG_EXPAND_SZ', data: '%SystemRoot%\\..x' }] });
    expect(await windowsPolicyFilePath({ registryReader: root, windowsDirectory: objectManager() })).toBe(
      'D:\\Windows\\..x\\keystore\\policy.json',
    );
  });

  it('no ProgramData value (or no key): the Windows default on the system drive, said to be the default', async () => {
    for (const contents of [null, { values: [] }]) {
      const location = await locateWindowsPolicyFile({
        registryReader: profileList(contents),
        windowsDirectory: () => ({ path: 'C:\\Windows', source: 'environment' }),
      });
      expect(location).toMatchObject({ path: 'C:\\ProgramData\\keystore\\policy.json', source: 'default' });
      expect(location.detail).toContain('environment');
    }
  });

  it('fails closed on a value it cannot use: another variable, a relative or UNC path, a wrong type', async () => {
    const cases: RegistryKeyContents[] = [
      { values: [{ name: 'ProgramData', type: 'REG_EXPAND_SZ', data: '%USERPROFILE%\\ProgramData' }] },
      { values: [{ name: 'ProgramData', type: 'REG_EXPAND_SZ', data: 'ProgramData' }] },
      { values: [{ name: 'ProgramData', type: 'REG_SZ', data: '\\\\server\\share\\ProgramData' }] },
      { values: [{ name: 'ProgramData', type: 'REG_SZ', data: 'C:\\a\\..\\b' }] },
      { values: [{ name: 'ProgramData', type: 'REG_DWORD', data: 1 }] },
      { values: [{ name: 'ProgramData', type: 'REG_MULTI_SZ', data: ['C:\\ProgramData'] }] },
    ];
    for (const contents of cases) {
      expect(
        await codeOf(
          locateWindowsPolicyFile({ registryReader: profileList(contents), windowsDirectory: objectManager() }),
        ),
      ).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    }
  });

  it('a registry reader that fails is not papered over with a guessed folder', async () => {
    const { KeyStoreError } = await import('@keystore/core');
    const denied: RegistryReader = async () => {
      throw new KeyStoreError('ERR_KEYSTORE_ACCESS_DENIED', 'denied');
    };
    expect(await codeOf(locateWindowsPolicyFile({ registryReader: denied, windowsDirectory: objectManager() }))).toBe(
      'ERR_KEYSTORE_ACCESS_DENIED',
    );
    const aborted = AbortSignal.abort();
    expect(await codeOf(windowsPolicyFilePath({ signal: aborted, registryReader: denied }))).toBe(
      'ERR_KEYSTORE_CANCELLED',
    );
  });
});

/** The SDDL of a file set up as the fix in the hint sets it up. */
const GOOD_FILE = 'O:BAG:SYD:PAI(A;;FA;;;SY)(A;;FA;;;BA)(A;;0x1200a9;;;BU)';
const GOOD_FOLDER = 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)';

describe('the SDDL verdict: who besides SYSTEM, Administrators and TrustedInstaller can write', () => {
  const verdict = (sddl: string) => sddlWriteProblems(sddl, 'the policy file X');

  it('accepts admin-only files: the hint fix, TrustedInstaller-owned, read-only grants, empty DACL, full SIDs', () => {
    for (const sddl of [
      GOOD_FILE,
      GOOD_FOLDER,
      `O:${TI}G:${TI}D:PAI(A;;FA;;;${TI})(A;;0x1200a9;;;BA)(A;;0x1200a9;;;SY)(A;;0x1200a9;;;BU)`,
      'O:SYD:P',
      'O:S-1-5-32-544D:(A;;FR;;;WD)(A;;FX;;;AU)(A;;GRGX;;;IU)(A;;0x120089;;;S-1-5-21-1-2-3-1001)',
      // Inherited read-only and admin ACEs, as a file created by an administrator in a locked folder.
      'O:BAG:DUD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)',
      // OWNER RIGHTS of an administrator-owned file is the administrators'.
      'O:BAD:(A;;FA;;;OW)',
    ]) {
      expect(verdict(sddl), sddl).toEqual([]);
    }
  });

  it('refuses an owner that is not Administrators, SYSTEM or TrustedInstaller (an owner can rewrite the DACL)', () => {
    const problems = verdict('O:S-1-5-21-111-222-333-1001G:S-1-5-21-111-222-333-513D:PAI(A;;FA;;;SY)(A;;FA;;;BA)');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('S-1-5-21-111-222-333-1001');
    expect(verdict('O:BUD:(A;;FA;;;SY)')).toHaveLength(1);
    expect(verdict('O:LAD:(A;;FA;;;SY)')).toHaveLength(1);
  });

  it.each([
    ['Everyone:W', 'O:BAD:(A;;FA;;;BA)(A;;0x116;;;WD)'],
    ['Everyone full control', 'O:BAD:(A;;FA;;;WD)'],
    ['Users:M (modify)', 'O:BAD:(A;;FA;;;BA)(A;;0x1301bf;;;BU)'],
    ['Authenticated Users write', 'O:BAD:(A;;FA;;;BA)(A;;FW;;;AU)'],
    ['Users generic write', 'O:BAD:(A;;GW;;;BU)'],
    ['Users generic all', 'O:BAD:(A;;GA;;;BU)'],
    ['a user SID append data only', 'O:BAD:(A;;0x4;;;S-1-5-21-1-2-3-1001)'],
    ['a user WRITE_DAC', 'O:BAD:(A;;WDRC;;;S-1-5-21-1-2-3-1001)'],
    ['a user WRITE_OWNER', 'O:BAD:(A;;WO;;;S-1-5-21-1-2-3-1001)'],
    ['Users DELETE', 'O:BAD:(A;;SD;;;BU)'],
    ['Users add files to the folder (inherited from ProgramData)', 'O:SYD:AI(A;CIID;0x100116;;;BU)'],
    ['Users delete child', 'O:BAD:(A;;0x40;;;BU)'],
    ['CREATOR OWNER on the object itself', 'O:BAD:(A;;FA;;;CO)'],
    ['an object allow ACE', 'O:BAD:(OA;;FA;;;BU)'],
    ['a callback allow ACE (its condition may hold)', 'O:BAD:(XA;;FA;;;WD;(Member_of{SID(BA)}))'],
    ['a bit without a meaning', 'O:BAD:(A;;0x200;;;BU)'],
    ['OWNER RIGHTS of a user-owned file', 'O:BUD:(A;;FA;;;OW)'],
  ])('refuses %s', (_name, sddl) => {
    expect(verdict(sddl).length).toBeGreaterThanOrEqual(1);
  });

  it('an account named by an alias it does not know counts as anyone else: read is fine, write is refused', () => {
    expect(verdict('O:BAD:(A;;FA;;;BA)(A;;FR;;;ZZ)')).toEqual([]);
    expect(verdict('O:BAD:(A;;FA;;;ZZ)')[0]).toContain('SDDL alias ZZ');
    expect(verdict('O:ZZD:(A;;FA;;;BA)')).toHaveLength(1);
  });

  it('names the trustee and the rights, and says when the ACE is inherited', () => {
    const [problem] = verdict('O:BAD:(A;ID;0x1301bf;;;BU)');
    expect(problem).toContain('Users (S-1-5-32-545)');
    expect(problem).toContain('FILE_WRITE_DATA');
    expect(problem).toContain('inherited');
  });

  it('a NULL DACL is writable by everyone', () => {
    expect(verdict('O:BAG:SYD:NO_ACCESS_CONTROL')).toEqual([
      'the policy file X has a NULL DACL, which lets everyone write it',
    ]);
    expect(parseSddl('O:BAD:NO_ACCESS_CONTROL').dacl).toBeNull();
  });

  it('deny ACEs grant nothing: they neither excuse an allow ACE nor count against the file', () => {
    expect(verdict('O:BAD:(D;;FA;;;WD)(A;;FA;;;BA)')).toEqual([]);
    expect(verdict('O:BAD:(D;;FW;;;BU)(A;;FA;;;BU)')).toHaveLength(1);
    expect(verdict('O:BAD:(XD;;FA;;;WD;(Member_of{SID(BU)}))(A;;FA;;;SY)')).toEqual([]);
  });

  it('inherit-only ACEs do not apply to the object itself', () => {
    expect(verdict('O:BAD:(A;OICIIO;FA;;;CO)(A;OICIIO;GA;;;BU)(A;;FA;;;BA)')).toEqual([]);
    expect(verdict('O:BAD:(A;OICIIOID;FA;;;CO)(A;OICI;FA;;;BU)')).toHaveLength(1);
  });

  it('reads past the group and a SACL, whatever their order', () => {
    expect(verdict('G:SYD:(A;;FA;;;BA)O:BAS:AI(AU;SA;FA;;;WD)')).toEqual([]);
    expect(parseSddl('O:BAG:SYD:(A;;FA;;;BA)S:(ML;;NW;;;LW)').owner).toBe('S-1-5-32-544');
  });

  it.each([
    ['empty', ''],
    ['no owner', 'G:SYD:(A;;FA;;;BA)'],
    ['no DACL', 'O:BAG:SY'],
    ['an owner part twice', 'O:BAO:BUD:(A;;FA;;;BA)'],
    ['an unknown right', 'O:BAD:(A;;QQ;;;BU)'],
    ['a right in decimal', 'O:BAD:(A;;2032127;;;BU)'],
    ['an unknown ACE flag', 'O:BAD:(A;XX;FA;;;BU)'],
    ['an audit ACE in the DACL', 'O:BAD:(AU;;FA;;;BU)'],
    ['a mandatory label in the DACL', 'O:BAD:(ML;;NW;;;LW)'],
    ['too few fields', 'O:BAD:(A;;FA;;BU)'],
    ['unbalanced parentheses', 'O:BAD:(A;;FA;;;BU'],
    ['text between ACEs', 'O:BAD:(A;;FA;;;BA)junk(A;;FR;;;BU)'],
    ['a line break inside', 'O:BAD:(A;;FA;;;BA)\n(A;;FA;;;BU)'],
    ['localized icacls text', 'C:\\ProgramData\\keystore\\policy.json VORDEFINIERT\\Administratoren:(F)'],
  ])('fails closed (throws) on SDDL it cannot read with certainty: %s', (_name, sddl) => {
    expect(() => verdict(sddl)).toThrow();
  });
});

describe('parsePowerShellOutput', () => {
  const PATHS = ['C:\\k', 'C:\\k\\policy.json'];

  it('takes one marked line per path, in order: SDDL, missing, reparse point', () => {
    expect(parsePowerShellOutput(`KEYSTORE-0-SDDL:${GOOD_FOLDER}\r\nKEYSTORE-1-SDDL:${GOOD_FILE}\r\n`, PATHS)).toEqual([
      { exists: true, reparsePoint: false, sddl: GOOD_FOLDER },
      { exists: true, reparsePoint: false, sddl: GOOD_FILE },
    ]);
    expect(parsePowerShellOutput('\r\nKEYSTORE-0-REPARSE\r\nKEYSTORE-1-MISSING\r\n', PATHS)).toEqual([
      { exists: true, reparsePoint: true },
      { exists: false },
    ]);
  });

  it('anything else fails closed: nothing (a stub), too few or many lines, out of order, unmarked, empty SDDL', () => {
    for (const out of [
      '',
      '\r\n',
      `KEYSTORE-0-SDDL:${GOOD_FOLDER}`,
      `KEYSTORE-1-SDDL:${GOOD_FILE}\r\nKEYSTORE-0-SDDL:${GOOD_FOLDER}`,
      `KEYSTORE-0-SDDL:${GOOD_FOLDER}\r\nKEYSTORE-1-SDDL:`,
      `KEYSTORE-0-SDDL:${GOOD_FOLDER}\r\n${GOOD_FILE}`,
      `WARNING: x\r\nKEYSTORE-0-MISSING\r\nKEYSTORE-1-MISSING`,
    ]) {
      expect(() => parsePowerShellOutput(out, PATHS), JSON.stringify(out)).toThrow(
        expect.objectContaining({ code: 'ERR_KEYSTORE_NATIVE_FAILURE' }),
      );
    }
  });
});

describe('checkWindowsPolicyFile', () => {
  const FILE = 'C:\\ProgramData\\keystore\\policy.json';
  const FOLDER = 'C:\\ProgramData\\keystore';
  /** A reader double over a table of SDDL by path (`null`: missing; `'reparse'`: a link). */
  const reader = (table: Record<string, string | null>): WindowsSecurityReader & { paths: string[][] } => {
    const paths: string[][] = [];
    return Object.assign(
      async (asked: readonly string[]) => {
        paths.push([...asked]);
        return asked.map((path): WindowsSecurityEntry => {
          if (!(path in table)) throw new Error(`unexpected path ${path}`);
          const sddl = table[path];
          if (sddl === null || sddl === undefined) return { exists: false };
          if (sddl === 'reparse') return { exists: true, reparsePoint: true };
          return { exists: true, reparsePoint: false, sddl };
        });
      },
      { paths },
    );
  };

  it('passes a file and folder that only administrators can write, having read both', async () => {
    const security = reader({ [FILE]: GOOD_FILE, [FOLDER]: GOOD_FOLDER });
    await expect(checkWindowsPolicyFile(FILE, { securityReader: security })).resolves.toBeUndefined();
    // One read for both, so that the default reader starts PowerShell once.
    expect(security.paths).toEqual([[FOLDER, FILE]]);
  });

  it('refuses a user-owned file with ERR_KEYSTORE_INVALID_POLICY, one issue per problem, and a hint with the fix', async () => {
    const error = await errorOf(
      checkWindowsPolicyFile(FILE, {
        securityReader: reader({
          [FILE]: 'O:S-1-5-21-1-2-3-1001D:AI(A;ID;FA;;;S-1-5-21-1-2-3-1001)(A;ID;FA;;;SY)',
          [FOLDER]: GOOD_FOLDER,
        }),
      }),
    );
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.issues).toHaveLength(2);
    expect(error.hint).toContain(`icacls "${FILE}"`);
    expect(error.hint).toContain('/inheritance:r');
    expect(error.hint).toContain('*S-1-5-32-544');
  });

  it('refuses a folder users can add files to, even when the file is fine (a planted file can replace it)', async () => {
    expect(
      await codeOf(
        checkWindowsPolicyFile(FILE, {
          securityReader: reader({ [FILE]: GOOD_FILE, [FOLDER]: 'O:BAD:AI(A;OICI;FA;;;SY)(A;CIID;0x100116;;;BU)' }),
        }),
      ),
    ).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('refuses a folder or file that is a reparse point (link, junction), whatever its own ACL', async () => {
    for (const table of [
      { [FILE]: GOOD_FILE, [FOLDER]: 'reparse' },
      { [FILE]: 'reparse', [FOLDER]: GOOD_FOLDER },
    ]) {
      expect(await codeOf(checkWindowsPolicyFile(FILE, { securityReader: reader(table) }))).toBe(
        'ERR_KEYSTORE_INVALID_POLICY',
      );
    }
  });

  it('refuses a file that is gone by the time of the check', async () => {
    expect(
      await codeOf(checkWindowsPolicyFile(FILE, { securityReader: reader({ [FILE]: null, [FOLDER]: GOOD_FOLDER }) })),
    ).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('fails closed when the owner and DACL cannot be read or parsed', async () => {
    const failing: WindowsSecurityReader = async () => {
      throw new (await import('@keystore/core')).KeyStoreError('ERR_KEYSTORE_NATIVE_FAILURE', 'no powershell');
    };
    expect(await codeOf(checkWindowsPolicyFile(FILE, { securityReader: failing }))).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(
      await codeOf(
        checkWindowsPolicyFile(FILE, { securityReader: reader({ [FILE]: 'garbage', [FOLDER]: GOOD_FOLDER }) }),
      ),
    ).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    for (const broken of [
      async () => 42,
      async () => [],
      async () => [{ exists: true }, { exists: true }],
      async () => [
        { exists: true, sddl: 'O:BAD:' },
        { exists: true, sddl: 'O:BAD:' },
      ],
      async () => [null, { exists: false }],
    ]) {
      expect(
        await codeOf(checkWindowsPolicyFile(FILE, { securityReader: broken as unknown as WindowsSecurityReader })),
      ).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    }
  });

  it('refuses bad paths before reading anything, and honours an aborted signal', async () => {
    const security = reader({});
    for (const bad of [
      'policy.json',
      '\\\\server\\share\\policy.json',
      'C:\\a\\..\\policy.json',
      'C:\\keystore\\',
      42,
    ]) {
      expect(await codeOf(checkWindowsPolicyFile(bad as string, { securityReader: security }))).toBe(
        'ERR_KEYSTORE_INVALID_ARGUMENT',
      );
    }
    expect(security.paths).toEqual([]);
    expect(await codeOf(checkWindowsPolicyFile(FILE, { securityReader: security, signal: AbortSignal.abort() }))).toBe(
      'ERR_KEYSTORE_CANCELLED',
    );
  });
});
