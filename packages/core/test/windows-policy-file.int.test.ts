// The Windows policy file under Wine 8.0, as far as Wine's security model goes: the location read
// from ProfileList with the real reg.exe while the environment names another ProgramData; the owner
// and DACL Wine's GetNamedSecurityInfoW reports, fed through checkWindowsPolicyFile; and the default
// reader (Windows PowerShell), which Wine only stubs, failing closed.
//
// What Wine does (measured here): it keeps no security descriptors of its own for files. It makes
// one up from the Unix owner and mode bits: the owner is the Wine user (S-1-5-21-0-0-0-1000) when
// the Unix owner is the one running Wine, else ANONYMOUS LOGON; the DACL grants SYSTEM and that user
// full control and Everyone read (0x1200a9) or, when the file is world-writable, 0x1301ff.
// SetNamedSecurityInfoW answers success but only changes mode bits; an owner cannot be set. So no
// file under Wine is owned by Administrators, and every policy file is refused here: the passing
// case (an administrator-owned, locked-down file) can only be shown on Windows
// (windows-policy-file.windows.test.ts). Wine's icacls.exe and powershell.exe are stubs that print
// nothing and exit 0. A Unix symbolic link to a folder shows as a reparse point (attributes 0x410);
// one to a file does not.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runWineScript, wine } from '../../../test-support/wine.js';

const RUN = `keystore-acl-${randomBytes(4).toString('hex')}`;
const DRIVE_C = `${repoRoot}.cache/wine/prefix/drive_c`;
const BUNDLE = `${repoRoot}.tmp/wine/${RUN}-windows-file.cjs`;

interface Outcome {
  ok: boolean;
  value?: unknown;
  error?: { code: string; issues?: { message: string }[]; message: string };
}

describe.skipIf(!wine.available)(`Windows policy file under Wine (needs Wine: ${wine.reason})`, () => {
  let out: Record<string, Outcome | unknown>;

  beforeAll(async () => {
    // The module is internal (not in the package's entry): bundle it for Windows Node.
    mkdirSync(`${repoRoot}.tmp/wine`, { recursive: true });
    await build({
      entryPoints: [`${repoRoot}packages/core/src/policy/windows-file.ts`],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: BUNDLE,
      logLevel: 'silent',
    });
    // Files made on the Linux side, so that their Unix owner and mode are what Wine turns into SDDL.
    const dir = `${DRIVE_C}/${RUN}`;
    for (const [name, mode] of [
      ['locked', 0o644],
      ['worldwrite', 0o666],
      ['foreign', 0o644],
    ] as const) {
      mkdirSync(`${dir}/${name}`, { recursive: true, mode: 0o755 });
      chmodSync(`${dir}/${name}`, 0o755);
      writeFileSync(`${dir}/${name}/policy.json`, '{}');
      chmodSync(`${dir}/${name}/policy.json`, mode);
    }
    // "A file owned by an ordinary user": another Unix account than the one running Wine.
    chownSync(`${dir}/foreign/policy.json`, 1000, 1000);
    // A Unix symbolic link to a folder: Wine reports it as a reparse point (0x410), a file link not.
    symlinkSync(`${dir}/locked`, `${dir}/linked`);

    const result = await runWineScript(
      `
const koffi = require('koffi');
const wf = require(${JSON.stringify(`./${RUN}-windows-file.cjs`)});
const adv = koffi.load('advapi32.dll');
const k32 = koffi.load('kernel32.dll');
const GetNSI = adv.func('uint32_t __stdcall GetNamedSecurityInfoW(const char16_t *name, int type, uint32_t info, _Out_ void **owner, _Out_ void **group, _Out_ void **dacl, _Out_ void **sacl, _Out_ void **sd)');
const SD2S = adv.func('int __stdcall ConvertSecurityDescriptorToStringSecurityDescriptorW(void *sd, uint32_t rev, uint32_t info, _Out_ char16_t **s, _Out_ uint32_t *len)');
const LocalFree = k32.func('void * __stdcall LocalFree(void *h)');
// OWNER | GROUP | DACL _SECURITY_INFORMATION, SE_FILE_OBJECT: what Get-Acl reads on Windows.
const FILE_ATTRIBUTE_REPARSE_POINT = 0x400;
const GetFileAttributesW = k32.func('uint32_t __stdcall GetFileAttributesW(const char16_t *name)');
const readOne = (path) => {
  const sd = [null], o = [null], g = [null], d = [null], s = [null];
  const rc = GetNSI(path, 1, 7, o, g, d, s, sd);
  if (rc === 2 || rc === 3) return { exists: false };
  if (rc !== 0) throw new Error('GetNamedSecurityInfoW ' + rc);
  try {
    const text = [null], len = [0];
    if (!SD2S(sd[0], 1, 7, text, len)) throw new Error('ConvertSecurityDescriptorToStringSecurityDescriptorW failed');
    const reparsePoint = (GetFileAttributesW(path) & FILE_ATTRIBUTE_REPARSE_POINT) !== 0;
    return { exists: true, reparsePoint, sddl: text[0] };
  } finally { LocalFree(sd[0]); }
};
const nativeReader = async (paths) => paths.map(readOne);
const outcome = async (p) => {
  try { return { ok: true, value: await p }; }
  catch (e) { return { ok: false, error: { code: e.code, issues: e.issues, message: e.message } }; }
};
(async () => {
  const out = {};
  const base = 'C:\\\\${RUN}\\\\';
  // Wine sets ProgramData for each process from its registry, so the planted value is set here.
  process.env.ProgramData = 'C:\\\\${RUN}\\\\planted';
  out.envProgramData = process.env.ProgramData;
  const t0 = Date.now();
  out.location = await outcome(wf.locateWindowsPolicyFile());
  out.locationMs = Date.now() - t0;
  for (const name of ['locked', 'worldwrite', 'foreign']) {
    out['sddl-' + name] = readOne(base + name + '\\\\policy.json').sddl;
    out[name] = await outcome(wf.checkWindowsPolicyFile(base + name + '\\\\policy.json', { securityReader: nativeReader }));
  }
  out.linked = await outcome(wf.checkWindowsPolicyFile(base + 'linked\\\\policy.json', { securityReader: nativeReader }));
  out.missing = await outcome(wf.checkWindowsPolicyFile(base + 'locked\\\\gone.json', { securityReader: nativeReader }));
  const t = Date.now();
  out.powershell = await outcome(wf.checkWindowsPolicyFile(base + 'locked\\\\policy.json'));
  out.powershellMs = Date.now() - t;
  console.log(JSON.stringify(out));
})();
`,
      { timeoutMs: 180_000 },
    );
    if (result.json === undefined)
      throw new Error(`the Wine script printed no JSON:\n${result.stdout}\n${result.stderr}`);
    out = result.json as Record<string, Outcome>;
  }, 240_000);

  afterAll(() => {
    rmSync(`${DRIVE_C}/${RUN}`, { recursive: true, force: true });
    rmSync(BUNDLE, { force: true });
  });

  it('finds ProgramData through ProfileList with reg.exe, not from the ProgramData the environment names', () => {
    console.info(`under Wine: locate ${out.locationMs} ms, PowerShell check ${out.powershellMs} ms`);
    expect(out.envProgramData).toBe(`C:\\${RUN}\\planted`);
    const location = out.location as Outcome;
    expect(location.error).toBeUndefined();
    expect(location.value).toMatchObject({ path: 'C:\\ProgramData\\keystore\\policy.json', source: 'registry' });
    // Wine has no \\SystemRoot object-manager link: the detail says the Windows directory came from elsewhere.
    expect((location.value as { detail: string }).detail).toContain('did not resolve');
  });

  it("reads Wine's made-up descriptors without failing to parse them, and refuses each file", () => {
    // A 0644 file of the Wine user: owned by S-1-5-21-0-0-0-1000, which is not Administrators.
    expect(out['sddl-locked']).toMatch(/^O:S-1-5-21-0-0-0-1000G:[^D]*D:\(A;;FA;;;SY\)/);
    const locked = out.locked as Outcome;
    expect(locked.error?.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(locked.error?.issues?.some((i) => i.message.includes('owned by S-1-5-21-0-0-0-1000'))).toBe(true);
    // 0666: Everyone gets 0x1301ff, which includes write.
    expect(out['sddl-worldwrite']).toContain('(A;;0x1301ff;;;WD)');
    const worldwrite = out.worldwrite as Outcome;
    expect(worldwrite.error?.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(worldwrite.error?.issues?.some((i) => i.message.includes('Everyone (S-1-1-0)'))).toBe(true);
    // Another Unix account's file: Wine names its owner ANONYMOUS LOGON.
    expect(out['sddl-foreign']).toMatch(/^O:AN/);
    expect((out.foreign as Outcome).error?.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('refuses a policy file whose folder is a link (Wine shows a Unix link to a folder as a reparse point)', () => {
    const linked = out.linked as Outcome;
    expect(linked.error?.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(linked.error?.issues?.some((i) => i.message.includes('is a reparse point'))).toBe(true);
  });

  it('refuses a file that is not there by the time of the check', () => {
    expect((out.missing as Outcome).error?.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it("fails closed with the default reader: Wine's powershell.exe is a stub that prints nothing", () => {
    const powershell = out.powershell as Outcome;
    expect(powershell.ok).toBe(false);
    expect(powershell.error?.code).toBe('ERR_KEYSTORE_NATIVE_FAILURE');
    expect(powershell.error?.message).toContain('printed nothing');
  });
});
