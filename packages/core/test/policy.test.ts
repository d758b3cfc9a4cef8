import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_POLICY,
  KEY_ALGORITHMS,
  KeyStoreError,
  type KeyStorePolicy,
  loadMachinePolicy,
  loadPolicyFile,
  MACHINE_POLICY_ENV,
  machinePolicyPath,
  mergePolicies,
  parsePolicy,
  policyToJson,
  requestViolations,
  resolvePolicy,
  validatePolicy,
} from '@keystore/core';
import { resolveTestPolicy, TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Runs `fn` and returns what it threw (or rejected with), failing when it did not. */
async function caught(fn: () => unknown): Promise<KeyStoreError> {
  try {
    await fn();
  } catch (error) {
    expect(KeyStoreError.is(error)).toBe(true);
    return error as KeyStoreError;
  }
  throw new Error('expected an error');
}

describe('DEFAULT_POLICY', () => {
  it('holds the documented defaults', () => {
    expect(DEFAULT_POLICY).toEqual({
      minimumIsolation: 'os-isolated',
      providers: { allow: null, deny: [], prefer: [] },
      legacyCryptoApi: 'deny',
      exportable: { create: false, export: false },
      allowedAlgorithms: [...KEY_ALGORITHMS],
      minimumRsaBits: 2048,
      allowedScopes: ['user', 'machine'],
      pkcs11Modules: [],
    });
  });

  it('is deeply frozen', () => {
    expect(Object.isFrozen(DEFAULT_POLICY)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY.providers)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY.providers.deny)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY.exportable)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY.allowedAlgorithms)).toBe(true);
    expect(() => (DEFAULT_POLICY.allowedScopes as string[]).push('system')).toThrow(TypeError);
  });
});

describe('validatePolicy messages', () => {
  it('say what is allowed', () => {
    const [isolation] = validatePolicy({ minimumIsolation: 'tpm' });
    expect(isolation?.message).toContain('hardware');
    const [scope] = validatePolicy({ allowedScopes: ['system'] });
    expect(scope?.message).toContain('machine');
    const [unknown] = validatePolicy({ minimumIsolaton: 'none' });
    expect(unknown?.message).toContain('minimumIsolation');
  });
});

describe('parsePolicy', () => {
  it('returns a typed copy that shares nothing with the input', () => {
    const input = {
      $schema: 'x',
      minimumIsolation: 'hardware',
      providers: { allow: ['tpm'], prefer: ['tpm'] },
      exportable: { export: false },
      allowedAlgorithms: ['ECDSA-P256'],
      minimumRsaBits: 3072,
      allowedScopes: ['user'],
      legacyCryptoApi: 'deny',
    };
    const policy = parsePolicy(input);
    expect(policy).toEqual(input);
    input.providers.allow.push('cng');
    input.allowedAlgorithms.push('RSA-2048');
    expect(policy.providers?.allow).toEqual(['tpm']);
    expect(policy.allowedAlgorithms).toEqual(['ECDSA-P256']);
  });

  it('drops properties set to undefined', () => {
    expect(parsePolicy({ minimumIsolation: undefined, minimumRsaBits: 4096 })).toStrictEqual({ minimumRsaBits: 4096 });
  });

  it('throws ERR_KEYSTORE_INVALID_POLICY with every issue', async () => {
    const error = await caught(() =>
      parsePolicy({ minimumIsolation: 'tpm', providers: { allow: ['cng', 'tpm', 7] } }, 'app.json'),
    );
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.issues.map((issue) => issue.pointer)).toEqual(['/minimumIsolation', '/providers/allow/2']);
    expect(error.message).toContain('app.json');
    expect(error.message).toContain('/providers/allow/2');
    expect(error.message).toContain('/minimumIsolation');
  });

  it('rejects a document that is not an object with pointer ""', async () => {
    const error = await caught(() => parsePolicy('hardware'));
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.issues.map((issue) => issue.pointer)).toEqual(['']);
  });
});

describe('machinePolicyPath', () => {
  it('uses /etc/keystore/policy.json on Linux and macOS', () => {
    expect(machinePolicyPath('linux')).toBe('/etc/keystore/policy.json');
    expect(machinePolicyPath('darwin')).toBe('/etc/keystore/policy.json');
  });

  it('answers C:\\ProgramData\\keystore\\policy.json on Windows, whatever the environment', () => {
    expect(machinePolicyPath('win32')).toBe('C:\\ProgramData\\keystore\\policy.json');
  });

  it('is not changed by KEYSTORE_MACHINE_POLICY, which names an additional file', () => {
    expect(MACHINE_POLICY_ENV).toBe('KEYSTORE_MACHINE_POLICY');
    // A 0.2 caller passing an environment first gets the fixed path.
    const legacy = machinePolicyPath as unknown as (env: object) => string;
    expect(legacy({ KEYSTORE_MACHINE_POLICY: '/opt/p.json' })).toBe(machinePolicyPath());
  });

  it('defaults to the running process', () => {
    expect(machinePolicyPath()).toBe(machinePolicyPath(process.platform));
  });
});

describe('policy files', () => {
  let dir: string;
  const file = (name: string) => join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keystore-policy-'));
    await writeFile(file('valid.json'), JSON.stringify({ minimumIsolation: 'hardware', minimumRsaBits: 3072 }));
    await writeFile(file('bom.json'), `\uFEFF${JSON.stringify({ legacyCryptoApi: 'deny' })}`);
    await writeFile(file('bad.json'), '{ "minimumIsolation": "hardware", }');
    await writeFile(file('invalid.json'), JSON.stringify({ minimumIsolation: 'tpm', providers: { allow: [1] } }));
    await writeFile(file('unreadable.json'), '{}');
    await chmod(file('unreadable.json'), 0o000);
    await mkdir(file('folder.json'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a valid file', async () => {
    expect(await loadPolicyFile(file('valid.json'))).toEqual({ minimumIsolation: 'hardware', minimumRsaBits: 3072 });
  });

  it('accepts a UTF-8 byte-order mark', async () => {
    expect(await loadPolicyFile(file('bom.json'))).toEqual({ legacyCryptoApi: 'deny' });
  });

  it('rejects bad JSON with pointer "" and the file name', async () => {
    const error = await caught(() => loadPolicyFile(file('bad.json')));
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.issues.map((issue) => issue.pointer)).toEqual(['']);
    expect(error.message).toContain('bad.json');
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it('rejects an invalid policy with each pointer', async () => {
    const error = await caught(() => loadPolicyFile(file('invalid.json')));
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    expect(error.issues.map((issue) => issue.pointer)).toEqual(['/minimumIsolation', '/providers/allow/0']);
  });

  it('rejects a missing file', async () => {
    const error = await caught(() => loadPolicyFile(file('missing.json')));
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it('rejects a directory', async () => {
    const error = await caught(() => loadPolicyFile(file('folder.json')));
    expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
  });

  it.skipIf(process.getuid?.() === 0 || process.platform === 'win32')(
    'reports an unreadable file as ERR_KEYSTORE_ACCESS_DENIED (skipped as root, who reads anything)',
    async () => {
      const error = await caught(() => loadPolicyFile(file('unreadable.json')));
      expect(error.code).toBe('ERR_KEYSTORE_ACCESS_DENIED');
    },
  );

  it('honours an aborted signal', async () => {
    const error = await caught(() => loadPolicyFile(file('valid.json'), { signal: AbortSignal.abort() }));
    expect(error.code).toBe('ERR_KEYSTORE_CANCELLED');
  });

  describe('loadMachinePolicy', () => {
    /** No fixed-path file, the environment given: what is read is the file KEYSTORE_MACHINE_POLICY names. */
    const named = (path: string) => ({
      [TEST_POLICY_SOURCES]: {
        machinePolicy: null,
        env: { KEYSTORE_MACHINE_POLICY: path },
        platform: 'linux' as const,
      },
    });

    it('reads the additional file named by KEYSTORE_MACHINE_POLICY', async () => {
      expect(await loadMachinePolicy(named(file('valid.json')))).toMatchObject({
        policy: null,
        path: '/etc/keystore/policy.json',
        envPolicy: { minimumIsolation: 'hardware', minimumRsaBits: 3072 },
        envPath: file('valid.json'),
      });
    });

    it('fails when KEYSTORE_MACHINE_POLICY names a missing file', async () => {
      const error = await caught(() => loadMachinePolicy(named(file('missing.json'))));
      expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
      expect(error.hint).toContain('KEYSTORE_MACHINE_POLICY');
    });

    it('rejects the options that chose the environment and platform', async () => {
      for (const removed of [{ env: {} }, { platform: 'linux' }]) {
        const error = await caught(() => loadMachinePolicy(removed as never));
        expect(error.code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
        expect(error.hint).toContain('@keystore/core/testing');
      }
    });

    it('fails closed on an invalid machine policy', async () => {
      const error = await caught(() => loadMachinePolicy(named(file('invalid.json'))));
      expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
      expect(error.issues.length).toBe(2);
    });

    it('fails closed on a machine policy that is not JSON', async () => {
      expect((await caught(() => loadMachinePolicy(named(file('bad.json'))))).code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    });

    it.skipIf(process.getuid?.() === 0 || process.platform === 'win32')(
      'reports an unreadable machine policy as ERR_KEYSTORE_ACCESS_DENIED (needs a non-root POSIX user)',
      async () => {
        expect((await caught(() => loadMachinePolicy(named(file('unreadable.json'))))).code).toBe(
          'ERR_KEYSTORE_ACCESS_DENIED',
        );
      },
    );
  });

  describe('resolvePolicy', () => {
    it('reads the file KEYSTORE_MACHINE_POLICY names as a further ceiling and records its path', async () => {
      const env = { KEYSTORE_MACHINE_POLICY: file('valid.json') };
      const effective = await resolveTestPolicy({ app: { minimumIsolation: 'none' }, env, machine: null });
      expect(effective.minimumIsolation).toBe('hardware');
      expect(effective.sources['/minimumIsolation']).toBe('machine-env');
      expect(effective.machineEnvPolicyPath).toBe(file('valid.json'));
      expect(effective.machinePolicyPath).toBeNull();
    });

    it('applies the fixed-path file and the env-named file together, the stricter of each field', async () => {
      const env = { KEYSTORE_MACHINE_POLICY: file('valid.json') };
      const effective = await resolveTestPolicy({
        app: { minimumIsolation: 'none' },
        env,
        machine: { minimumRsaBits: 4096, legacyCryptoApi: 'deny' },
      });
      expect(effective.minimumIsolation).toBe('hardware');
      expect(effective.sources['/minimumIsolation']).toBe('machine-env');
      expect(effective.minimumRsaBits).toBe(4096);
      expect(effective.sources['/minimumRsaBits']).toBe('machine');
    });

    it('records no path when there is no machine policy file', async () => {
      // registry: null, since this machine has no registry to read (registry-policy.test.ts covers it)
      const effective = await resolveTestPolicy({
        app: { minimumIsolation: 'none' },
        env: {},
        machine: null,
        registry: null,
      });
      expect(effective.minimumIsolation).toBe('none');
      expect(effective.machinePolicyPath).toBeNull();
      expect(effective.machineEnvPolicyPath).toBeNull();
      expect(effective.registryPolicyKey).toBeNull();
    });

    it('records every replaced source as an override', async () => {
      const effective = await resolveTestPolicy({ machine: null, env: {}, registry: null });
      expect(effective.overrides.map((o) => [o.source, o.by, o.name])).toEqual([
        ['machine', 'option', 'machinePolicy'],
        ['machine-env', 'option', 'env'],
        ['registry', 'option', 'registryPolicy'],
      ]);
    });

    it('uses a given machine policy without reading the fixed-path file', async () => {
      const effective = await resolveTestPolicy({ app: {}, machine: { minimumRsaBits: 4096 }, env: {} });
      expect(effective.minimumRsaBits).toBe(4096);
      expect(effective.machinePolicyPath).toBeNull();
    });

    it('rejects the options that used to drop or replace a machine source', async () => {
      for (const removed of [
        { machine: null },
        { registry: null },
        { env: {} },
        { platform: 'linux' },
        { registryReader: async () => null },
      ]) {
        const error = await caught(() => resolvePolicy(removed as never));
        expect(error.code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
        expect(error.hint).toContain('resolveTestPolicy');
      }
    });

    it('validates the app policy', async () => {
      const error = await caught(() => resolveTestPolicy({ app: { minimumIsolation: 'tpm' } as never, machine: null }));
      expect(error.code).toBe('ERR_KEYSTORE_INVALID_POLICY');
      expect(error.issues.map((issue) => issue.pointer)).toEqual(['/minimumIsolation']);
    });

    it('validates a given machine policy', async () => {
      const error = await caught(() => resolveTestPolicy({ machine: { allowedScopes: ['user', 'user'] } }));
      expect(error.issues.map((issue) => issue.pointer)).toEqual(['/allowedScopes/1']);
    });

    it('fails when the machine policy cannot be applied', async () => {
      const env = { KEYSTORE_MACHINE_POLICY: file('invalid.json') };
      expect((await caught(() => resolveTestPolicy({ env, machine: null }))).code).toBe('ERR_KEYSTORE_INVALID_POLICY');
    });

    it('honours an aborted signal', async () => {
      expect((await caught(() => resolvePolicy({ signal: AbortSignal.abort() }))).code).toBe('ERR_KEYSTORE_CANCELLED');
    });
  });
});

describe('requestViolations', () => {
  const strict = mergePolicies(
    {
      allowedAlgorithms: ['ECDSA-P256', 'RSA-2048', 'RSA-3072'],
      minimumRsaBits: 3072,
      allowedScopes: ['user'],
    },
    null,
  );

  it('allows what the policy allows', () => {
    expect(requestViolations(strict, { algorithm: 'ECDSA-P256', scope: 'user', exportable: false })).toEqual([]);
    expect(requestViolations(strict, { algorithm: 'RSA-3072' })).toEqual([]);
    expect(requestViolations(strict, {})).toEqual([]);
  });

  it('names /allowedAlgorithms for an algorithm not listed', () => {
    const [violation, ...rest] = requestViolations(strict, { algorithm: 'ECDSA-P384' });
    expect(rest).toEqual([]);
    expect(violation).toContain('/allowedAlgorithms');
    expect(violation).toContain('ECDSA-P384');
  });

  it('applies minimumRsaBits to RSA algorithms even when they are listed', () => {
    const violations = requestViolations(strict, { algorithm: 'RSA-2048' });
    expect(violations).toHaveLength(1);
    expect(violations[0]).toContain('/minimumRsaBits');
    expect(violations[0]).toContain('3072');
  });

  it('reports both when an RSA algorithm is neither listed nor large enough', () => {
    const policy = mergePolicies({ allowedAlgorithms: ['ECDSA-P256'], minimumRsaBits: 4096 }, null);
    const violations = requestViolations(policy, { algorithm: 'RSA-3072' });
    expect(violations.map((v) => v.match(/\(\/\w+\)/)?.[0])).toEqual(['(/allowedAlgorithms)', '(/minimumRsaBits)']);
  });

  it('names /allowedScopes for a scope not allowed', () => {
    const violations = requestViolations(strict, { scope: 'machine' });
    expect(violations).toHaveLength(1);
    expect(violations[0]).toContain('/allowedScopes');
  });

  it('names /exportable/create for an exportable key under the defaults', () => {
    const violations = requestViolations(DEFAULT_POLICY, { exportable: true });
    expect(violations).toHaveLength(1);
    expect(violations[0]).toContain('/exportable/create');
    expect(requestViolations(mergePolicies({ exportable: { create: true } }, null), { exportable: true })).toEqual([]);
  });

  it('names /exportable/export for a private key export under the defaults', () => {
    const violations = requestViolations(DEFAULT_POLICY, { exportPrivateKey: true });
    expect(violations).toHaveLength(1);
    expect(violations[0]).toContain('/exportable/export');
    expect(
      requestViolations(mergePolicies({ exportable: { export: true } }, null), { exportPrivateKey: true }),
    ).toEqual([]);
  });

  it('lists every violation at once', () => {
    expect(requestViolations(strict, { algorithm: 'RSA-4096', scope: 'machine', exportable: true })).toHaveLength(3);
  });
});

describe('policyToJson', () => {
  it('renders a complete, valid policy document with sources and path', () => {
    const effective = mergePolicies({ minimumIsolation: 'none' }, { providers: { deny: ['capi'] } }, '/etc/p.json');
    const json = policyToJson(effective);
    expect(validatePolicy(json.policy)).toEqual([]);
    expect(json.policy.minimumIsolation).toBe('none');
    expect(json.policy.providers).toEqual({ deny: ['capi'], prefer: [] });
    expect(json.sources['/minimumIsolation']).toBe('app');
    expect(json.sources['/providers/deny']).toBe('machine');
    expect(json.machinePolicyPath).toBe('/etc/p.json');
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  it('keeps an allow list, even an empty one', () => {
    const json = policyToJson(mergePolicies({ providers: { allow: ['tpm'] } }, { providers: { allow: ['cng'] } }));
    expect(json.policy.providers?.allow).toEqual([]);
  });

  it('round-trips: merging the rendered policy again changes nothing', () => {
    const app: KeyStorePolicy = { minimumIsolation: 'none', providers: { allow: ['tpm', 'cng'], prefer: ['cng'] } };
    const machine: KeyStorePolicy = { providers: { allow: ['tpm', 'memory'], prefer: ['tpm'] }, minimumRsaBits: 3072 };
    const effective = mergePolicies(app, machine);
    const again = mergePolicies(policyToJson(effective).policy, null);
    const { sources: _a, machinePolicyPath: _b, ...first } = effective;
    const { sources: _c, machinePolicyPath: _d, ...second } = again;
    expect(second).toEqual(first);
  });
});
