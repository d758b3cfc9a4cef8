// JSON.parse keeps the last of two equal keys, so a policy file could say "hardware" to the person
// reading it and "none" to the key store. Every policy text is scanned for keys given twice.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMachinePolicy, loadPolicyFile } from '@keystore/core';
import { TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { duplicateKeyIssues } from '../src/policy/duplicates.js';
import { errorOf } from './helpers/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kst-dup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function fileWith(text: string): string {
  const path = join(dir, `policy-${n++}.json`);
  writeFileSync(path, text);
  return path;
}

describe('duplicate keys in a policy', () => {
  it('refuses {"minimumIsolation":"hardware","minimumIsolation":"none"} in an app policy file, naming /minimumIsolation', async () => {
    const error = await errorOf(loadPolicyFile(fileWith('{"minimumIsolation":"hardware","minimumIsolation":"none"}')));
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.issues.map((issue) => issue.pointer)).toEqual(['/minimumIsolation']);
  });

  it('refuses them at any depth, naming each pointer once', async () => {
    const text = JSON.stringify({ providers: { allow: ['cng'] }, exportable: { create: false } })
      .replace('"allow":["cng"]', '"allow":["cng"],"deny":[],"allow":["memory"]')
      .replace('"create":false', '"create":false,"create":true,"create":true');
    const error = await errorOf(loadPolicyFile(fileWith(text)));
    expect(error.issues.map((issue) => issue.pointer)).toEqual(['/providers/allow', '/exportable/create']);
  });

  it('refuses them in the machine policy named by KEYSTORE_MACHINE_POLICY', async () => {
    const path = fileWith('{"legacyCryptoApi":"deny","legacyCryptoApi":"allow"}');
    const error = await errorOf(
      loadMachinePolicy({ [TEST_POLICY_SOURCES]: { machinePolicy: null, env: { KEYSTORE_MACHINE_POLICY: path } } }),
    );
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.issues.map((issue) => issue.pointer)).toEqual(['/legacyCryptoApi']);
  });

  it('tells keys apart after unescaping, and ignores braces, quotes and commas inside strings', () => {
    expect(duplicateKeyIssues('{"a":1,"\\u0061":2}').map((i) => i.pointer)).toEqual(['/a']);
    expect(duplicateKeyIssues('{"a":"}\\",{\\"a\\":","b":{"a":1},"c":[{"a":1},{"a":2}]}')).toEqual([]);
    expect(duplicateKeyIssues('[{"x":[1,{"k":1,"k":2}]}]').map((i) => i.pointer)).toEqual(['/0/x/1/k']);
    expect(duplicateKeyIssues('{"a/b":1,"a/b":2,"~":1,"~":2}').map((i) => i.pointer)).toEqual(['/a~1b', '/~0']);
  });

  it('accepts a policy that says each key once', async () => {
    expect(await loadPolicyFile(fileWith('{"minimumIsolation":"hardware","providers":{"allow":["cng"]}}'))).toEqual({
      minimumIsolation: 'hardware',
      providers: { allow: ['cng'] },
    });
  });
});
