/**
 * The CLI with the PKCS#11 provider on a SoftHSM2 token, configured from the environment
 * (KEYSTORE_PKCS11_MODULE, KEYSTORE_PKCS11_TOKEN, KEYSTORE_PKCS11_PIN_FILE): doctor shows the module,
 * the token, the mechanisms and the level; a key created by one `keystore` process signs in the next,
 * checked by openssl. Runs the built provider: `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSoftHsmToken,
  HAVE_INTEROP_TOOLS,
  HAVE_SOFTHSM,
  NEEDS_INTEROP,
  type SoftHsmToken,
} from '../../provider-pkcs11/test/helpers/softhsm.js';
import { parse, Sandbox } from './helpers.js';

const DIST = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../provider-pkcs11/dist/index.js');
const BUILT = existsSync(DIST);
if (HAVE_SOFTHSM && !BUILT && process.env.KEYSTORE_REQUIRE_SOFTHSM === '1') {
  throw new Error('KEYSTORE_REQUIRE_SOFTHSM=1 but @keystore/provider-pkcs11 is not built (npm run build)');
}
const HAVE = HAVE_SOFTHSM && HAVE_INTEROP_TOOLS && BUILT;
const why = !BUILT ? 'needs a built @keystore/provider-pkcs11 (npm run build)' : NEEDS_INTEROP;

describe.skipIf(!HAVE)(`keystore --provider pkcs11 on SoftHSM2${HAVE ? '' : ` (${why})`}`, () => {
  let box: Sandbox;
  let token: SoftHsmToken;
  const env: Record<string, string> = {};
  const p11 = ['--provider', 'pkcs11', '--policy', 'token.json'];
  const ok = (args: string[]) => {
    const r = box.run(args, { env });
    expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r;
  };

  beforeAll(() => {
    box = new Sandbox();
    token = createSoftHsmToken();
    // An undeclared module's keys are in-process: this app policy lowers the floor to that.
    box.write('token.json', { minimumIsolation: 'in-process' });
    const pinFile = join(token.dir, 'pin');
    writeFileSync(pinFile, `${token.pin}\n`, { mode: 0o600 });
    Object.assign(env, {
      SOFTHSM2_CONF: token.conf,
      KEYSTORE_PKCS11_MODULE: token.module,
      KEYSTORE_PKCS11_TOKEN: token.label,
      KEYSTORE_PKCS11_PIN_FILE: pinFile,
    });
  });
  afterAll(() => {
    box?.cleanup();
    token?.dispose();
  });

  it('doctor shows the module, the token, the mechanisms and the in-process level; unconfigured, it says what to set', () => {
    const d = parse<{
      providers: {
        id: string;
        available: boolean;
        isolation: string;
        details: Record<string, unknown>;
        reasons: string[];
      }[];
    }>(box.run(['doctor', '--json'], { env }));
    const row = d.providers.find((p) => p.id === 'pkcs11');
    expect(row?.available).toBe(true);
    expect(row?.isolation).toBe('in-process');
    expect(row?.details).toMatchObject({ module: token.module, tokenLabel: token.label });
    expect(String(row?.details.mechanismsUsed)).toContain('CKM_ECDSA');
    expect(row?.details.isolationBasis).toBe('not declared');
    expect(row?.details).toMatchObject({
      tokenSerial: expect.stringMatching(/\S/),
      declaredLevel: 'none',
      policySource: 'none',
    });
    expect(String(row?.details.mechanismsUsed)).toContain('CKM_RSA_PKCS');
    // The text report has the same rows.
    const text = box.run(['doctor'], { env }).stdout;
    expect(text).toContain(`module=${token.module}`);
    expect(text).toContain(`tokenLabel=${token.label}`);
    expect(text).toContain('declaredLevel=none');
    expect(String(row?.details.isolationEvidence)).toContain('not declared in the machine policy');

    const bare = parse<{ providers: { id: string; available: boolean; reasons: string[] }[] }>(
      box.run(['doctor', '--json'], { env: { SOFTHSM2_CONF: token.conf } }),
    );
    const unconfigured = bare.providers.find((p) => p.id === 'pkcs11');
    expect(unconfigured?.available).toBe(false);
    expect(unconfigured?.reasons.join(' ')).toContain('KEYSTORE_PKCS11_MODULE');
  });

  it('a key created by one process signs in the next; openssl verifies with the exported public key', () => {
    const created = parse<{ ref: string; isolation: { level: string } }>(
      ok(['keys', 'create', 'cli-p11', '--algorithm', 'ECDSA-P384', ...p11, '--json']),
    );
    expect(created.ref).toBe('keystore:pkcs11:user:cli-p11');
    expect(created.isolation.level).toBe('in-process');
    expect(parse<{ keys: { ref: string }[] }>(ok(['keys', 'list', ...p11, '--json'])).keys.map((k) => k.ref)).toContain(
      'keystore:pkcs11:user:cli-p11',
    );
    ok(['keys', 'public', 'cli-p11', ...p11, '--out', 'cli-p11.pem']);
    box.write('data.bin', Buffer.from('signed through the keystore CLI on a PKCS#11 token'));
    ok(['keys', 'sign', 'cli-p11', ...p11, '--in', 'data.bin', '--out', 'cli-p11.sig']);
    const v = spawnSync(
      'openssl',
      ['dgst', '-sha256', '-verify', 'cli-p11.pem', '-signature', 'cli-p11.sig', 'data.bin'],
      {
        cwd: box.dir,
        encoding: 'utf8',
      },
    );
    expect(v.stdout.trim(), v.stderr).toBe('Verified OK');
  });
});
