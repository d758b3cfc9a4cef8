// The Windows policy file on real Windows: the location from ProfileList whatever the environment
// says, the owner and DACL read with the real Windows PowerShell (Get-Acl), and the verdict on files
// whose ACLs icacls sets. Under Wine the security descriptors are made up from Unix mode bits and
// PowerShell is a stub (windows-policy-file.int.test.ts), so only Windows can show an accepted file.
// The accepted-file case needs an elevated run (only an administrator can make Administrators the
// owner). Skipped elsewhere, with the reason.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { win32 } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { windowsDirectory } from '../src/policy/registry.js';
import {
  checkWindowsPolicyFile,
  locateWindowsPolicyFile,
  readSecurityWithPowerShell,
} from '../src/policy/windows-file.js';
import { codeOf } from './helpers/errors.js';

const onWindows = process.platform === 'win32';
const NEEDS = 'needs Windows: ProfileList, Windows PowerShell and real NTFS ACLs';

function elevated(): boolean {
  if (!onWindows) return false;
  try {
    execFileSync(win32.join(windowsDirectory().path, 'System32', 'net.exe'), ['session'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const isElevated = elevated();

describe.skipIf(!onWindows)(`Windows policy file on Windows (${onWindows ? 'Windows' : NEEDS})`, () => {
  const dir = onWindows ? mkdtempSync(win32.join(tmpdir(), 'keystore-acl-')) : '';
  const folder = win32.join(dir, 'keystore');
  const file = win32.join(folder, 'policy.json');
  const icacls = (...args: string[]) =>
    execFileSync(win32.join(windowsDirectory().path, 'System32', 'icacls.exe'), args, { stdio: 'ignore' });

  afterAll(() => {
    if (!onWindows) return;
    try {
      icacls(dir, '/reset', '/T', '/C', '/Q');
    } catch {
      // Best effort: the folder may already be gone.
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds ProgramData through ProfileList even when the environment names another folder', async () => {
    const real = process.env.ProgramData;
    process.env.ProgramData = 'C:\\Users\\Public\\planted';
    try {
      const location = await locateWindowsPolicyFile();
      expect(location.source).toBe('registry');
      expect(location.path.toLowerCase()).toBe(
        win32.join(real ?? 'C:\\ProgramData', 'keystore', 'policy.json').toLowerCase(),
      );
      expect(location.detail).toContain('object manager');
    } finally {
      process.env.ProgramData = real;
    }
  });

  it('reads the owner and DACL as SDDL with the real PowerShell, for several paths in one run; a missing path as missing', async () => {
    mkdirSync(folder, { recursive: true });
    writeFileSync(file, '{}');
    const [onFile, missing] = await readSecurityWithPowerShell([file, win32.join(folder, 'missing.json')]);
    expect(onFile).toMatchObject({ exists: true, reparsePoint: false, sddl: expect.stringMatching(/^O:[^G]+G:.*D:/) });
    expect(missing).toEqual({ exists: false });
  }, 60_000);

  it.skipIf(isElevated)(
    'refuses a file the (unelevated) user owns (needs an unelevated run)',
    async () => {
      expect(await codeOf(checkWindowsPolicyFile(file))).toBe('ERR_KEYSTORE_INVALID_POLICY');
    },
    60_000,
  );

  it.skipIf(!isElevated)(
    'accepts a file locked down as the hint says, and refuses it once Users may modify it (needs an elevated run)',
    async () => {
      icacls(folder, '/setowner', '*S-1-5-32-544');
      icacls(
        folder,
        '/inheritance:r',
        '/grant:r',
        '*S-1-5-32-544:(OI)(CI)F',
        '*S-1-5-18:(OI)(CI)F',
        '*S-1-5-32-545:(OI)(CI)RX',
      );
      icacls(file, '/setowner', '*S-1-5-32-544');
      icacls(file, '/inheritance:r', '/grant:r', '*S-1-5-32-544:F', '*S-1-5-18:F', '*S-1-5-32-545:R');
      await expect(checkWindowsPolicyFile(file)).resolves.toBeUndefined();
      icacls(file, '/grant', '*S-1-5-32-545:M');
      expect(await codeOf(checkWindowsPolicyFile(file))).toBe('ERR_KEYSTORE_INVALID_POLICY');
      icacls(file, '/remove:g', '*S-1-5-32-545');
      icacls(folder, '/grant', '*S-1-5-11:(CI)(AD,WD)');
      expect(await codeOf(checkWindowsPolicyFile(file))).toBe('ERR_KEYSTORE_INVALID_POLICY');
      icacls(folder, '/remove:g', '*S-1-5-11');
      // A junction named like the folder, to a folder locked down the same way: refused as a reparse point.
      const junction = win32.join(dir, 'linked');
      execFileSync('cmd.exe', ['/d', '/c', 'mklink', '/J', junction, folder], { stdio: 'ignore' });
      expect(await codeOf(checkWindowsPolicyFile(win32.join(junction, 'policy.json')))).toBe(
        'ERR_KEYSTORE_INVALID_POLICY',
      );
    },
    120_000,
  );
});
