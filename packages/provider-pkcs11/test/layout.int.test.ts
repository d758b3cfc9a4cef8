/**
 * Binding-layout conformance: the structures the bindings lay out through koffi, the order of the
 * function list, and the constants and return-value names, against p11-kit's `pkcs11.h` (a
 * PKCS#11 v2.40 header) as gcc compiles it. The C program is generated from the bindings' own
 * tables, so a constant or function added to them is checked too. It is built twice: as Linux lays
 * the structures out (natural alignment), and with `CRYPTOKI_FORCE_WIN32` (the header's Windows
 * `#pragma pack(1)`), compared with koffi's layout made for Windows packing. On this 64-bit Linux
 * `CK_ULONG` is 8 bytes in both builds; Windows' 4-byte `CK_ULONG` is not checked here.
 *
 * `CK_INTERFACE` (v3.0) is not in p11-kit's header: its layout (two pointers and a `CK_FLAGS`, OASIS
 * PKCS#11 v3.0 `pkcs11t.h`) is checked only through `pFunctionList`'s offset being one pointer.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CKA,
  CKD_NULL,
  CKF_OS_LOCKING_OK,
  CKG,
  CKM,
  CKR_VALUES,
  CKZ_DATA_SPECIFIED,
  FUNCTION_LIST_ORDER,
} from '../src/native/constants.js';
import { makeLayout } from '../src/native/layout.js';

const HEADER_DIR = '/usr/include/p11-kit-1';
const HAVE_TOOLS =
  process.platform === 'linux' &&
  existsSync(join(HEADER_DIR, 'p11-kit/pkcs11.h')) &&
  spawnSync('sh', ['-c', 'command -v gcc'], { stdio: 'ignore' }).status === 0;
const NEEDS = "needs Linux with gcc and p11-kit's pkcs11.h (apt-get install gcc libp11-kit-dev)";
// CI installs both and sets KEYSTORE_REQUIRE_SOFTHSM=1: there a missing header fails this file.
if (process.env.KEYSTORE_REQUIRE_SOFTHSM === '1' && !HAVE_TOOLS) {
  throw new Error(`KEYSTORE_REQUIRE_SOFTHSM=1 but the PKCS#11 layout test cannot run here: ${NEEDS}`);
}

/**
 * struct: [the specification's type name, { koffi layout member: the specification's member }]. The
 * header's CRYPTOKI_COMPAT mode (its default) gives the specification's names.
 */
const STRUCTS = {
  attribute: ['CK_ATTRIBUTE', { type: 'type', pValue: 'pValue', ulValueLen: 'ulValueLen' }],
  mechanism: ['CK_MECHANISM', { mechanism: 'mechanism', pParameter: 'pParameter', ulParameterLen: 'ulParameterLen' }],
  initArgs: ['CK_C_INITIALIZE_ARGS', { flags: 'flags' }],
  sessionInfo: ['CK_SESSION_INFO', { state: 'state' }],
  tokenInfo: [
    'CK_TOKEN_INFO',
    {
      flags: 'flags',
      ulongs: 'ulMaxSessionCount',
      hardwareVersion: 'hardwareVersion',
      firmwareVersion: 'firmwareVersion',
    },
  ],
  info: [
    'CK_INFO',
    {
      manufacturerID: 'manufacturerID',
      flags: 'flags',
      libraryDescription: 'libraryDescription',
      libraryVersion: 'libraryVersion',
    },
  ],
  pss: ['CK_RSA_PKCS_PSS_PARAMS', { hashAlg: 'hashAlg', mgf: 'mgf', sLen: 'sLen' }],
  oaep: [
    'CK_RSA_PKCS_OAEP_PARAMS',
    {
      hashAlg: 'hashAlg',
      mgf: 'mgf',
      source: 'source',
      pSourceData: 'pSourceData',
      ulSourceDataLen: 'ulSourceDataLen',
    },
  ],
  ecdh1: [
    'CK_ECDH1_DERIVE_PARAMS',
    {
      kdf: 'kdf',
      ulSharedDataLen: 'ulSharedDataLen',
      pSharedData: 'pSharedData',
      ulPublicDataLen: 'ulPublicDataLen',
      pPublicData: 'pPublicData',
    },
  ],
} as const;

const CONSTANTS: Record<string, number> = {
  CKF_OS_LOCKING_OK,
  CKZ_DATA_SPECIFIED,
  CKD_NULL,
  ...Object.fromEntries(Object.entries(CKA).map(([k, v]) => [`CKA_${k}`, v])),
  ...Object.fromEntries(Object.entries(CKM).map(([k, v]) => [`CKM_${k}`, v])),
  ...Object.fromEntries(Object.entries(CKG).map(([k, v]) => [`CKG_${k}`, v])),
  ...CKR_VALUES,
};

function program(): string {
  const lines = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include <p11-kit/pkcs11.h>',
    'int main(void) {',
    'printf("{");',
  ];
  const out = (key: string, expr: string) => lines.push(`printf("\\"${key}\\":%lu,", (unsigned long)(${expr}));`);
  out('ulong', 'sizeof(unsigned long)');
  out('pointer', 'sizeof(void *)');
  for (const [name, [struct, members]] of Object.entries(STRUCTS)) {
    out(`${name}.size`, `sizeof(${struct})`);
    for (const [ours, theirs] of Object.entries(members)) out(`${name}.${ours}`, `offsetof(${struct}, ${theirs})`);
  }
  for (const fn of FUNCTION_LIST_ORDER) out(`fn.${fn}`, `offsetof(CK_FUNCTION_LIST, ${fn})`);
  for (const [name] of Object.entries(CONSTANTS)) out(`const.${name}`, name);
  lines.push('printf("\\"end\\":0}\\n");', 'return 0;', '}');
  return lines.join('\n');
}

describe.skipIf(!HAVE_TOOLS)(`PKCS#11 layout against p11-kit's pkcs11.h${HAVE_TOOLS ? '' : ` (${NEEDS})`}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'keystore-p11-layout-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');

  const compile = (flags: string[]): Record<string, number> => {
    const source = join(dir, 'layout.c');
    const exe = join(dir, `layout${flags.length}`);
    writeFileSync(source, program());
    execFileSync('gcc', ['-o', exe, `-I${HEADER_DIR}`, ...flags, source], { stdio: 'pipe' });
    return JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as Record<string, number>;
  };

  const compare = (c: Record<string, number>, windows: boolean) => {
    const layout = makeLayout(koffi, windows);
    const ours: Record<string, number> = { ulong: layout.ulong, pointer: layout.pointer };
    for (const [name, [, members]] of Object.entries(STRUCTS)) {
      const l = layout[name as keyof typeof STRUCTS] as Record<string, number>;
      ours[`${name}.size`] = l.size!;
      for (const member of Object.keys(members)) ours[`${name}.${member}`] = l[member]!;
    }
    FUNCTION_LIST_ORDER.forEach((fn, i) => {
      ours[`fn.${fn}`] = layout.functionListFirst + i * layout.pointer;
    });
    const theirs = Object.fromEntries(Object.entries(c).filter(([k]) => !k.startsWith('const.') && k !== 'end'));
    expect(ours).toEqual(theirs);
    expect(layout.interfaceFunctionList).toBe(layout.pointer);
  };

  it('structures and the function list, as Linux lays them out', () => {
    compare(compile([]), false);
  });

  it("structures and the function list with the header's Windows packing (pack 1)", () => {
    // gcc on Linux has no __declspec, which the header's Windows branch uses for CK_SPEC.
    compare(compile(['-DCRYPTOKI_FORCE_WIN32', '-D__declspec(x)=']), true);
  });

  it("every constant and return-value name has the header's value", () => {
    const c = compile([]);
    const theirs = Object.fromEntries(
      Object.entries(c)
        .filter(([k]) => k.startsWith('const.'))
        .map(([k, v]) => [k.slice(6), v]),
    );
    expect(CONSTANTS).toEqual(theirs);
  });
});
