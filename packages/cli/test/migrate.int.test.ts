/**
 * `keystore migrate` end to end, for real, in Windows Node.js under Wine: the built CLI
 * (`packages/cli/dist/bin.js`) with the installed CryptoAPI and CNG providers, on Wine's advapi32/rsaenh
 * and ncrypt.dll. Needs Wine and the built packages (`npm run build -w @keystore/cli`, and the capi and
 * cng providers).
 *
 * What Wine lets it show: legacy containers made by one process and found by the next (`--scan`); a
 * non-exportable key refused with exit 5 and left in place; the refusal of a target below
 * os-isolated (Wine's CNG runs in-process); and, with `--unsafe-allow-weak-target --delete-source`, the
 * import failing at Wine's named `NCryptImportKey` (NTE_NOT_SUPPORTED) with the source kept and still
 * signing. Then the steps of the move Wine does implement, in one Windows script: export from
 * CryptoAPI, an unnamed CNG import of the RSAFULLPRIVATEBLOB, and a CNG signature that verifies here
 * with the source's public key. What Wine cannot show (a persisted CNG key, CNG's export policy, LSASS)
 * needs Windows: see docs/migration.md.
 */
import { createHash, createPublicKey, type KeyObject, randomBytes, verify } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runWineNode, runWineScript, type WineRunResult, wine } from '../../../test-support/wine.js';

const CLI = 'packages/cli/dist/bin.js';
const BUILT = [CLI, 'packages/provider-capi/dist/index.js', 'packages/provider-cng/dist/native.cjs'];
const run = `migrate-${process.pid}-${randomBytes(3).toString('hex')}`;
const workDir = `.tmp/migrate-int/${run}`;
/** Repo-relative paths: the Windows process runs with the repository root as its working directory. */
const POLICY = `${workDir}/migrate-policy.json`;
const MACHINE_POLICY = `${workDir}/machine-policy.json`;
const EXPORTABLE = `${run}-open`;
const LOCKED = `${run}-locked`;
const TIMEOUT = 180_000;

/** The migration policy of docs/migration.md, plus exportable.create to make the exportable legacy key. */
const migratePolicy = {
  legacyCryptoApi: 'allow',
  minimumIsolation: 'in-process',
  exportable: { create: true, export: true },
};

interface CliResult extends WineRunResult {
  /** stdout parsed as JSON (every call here passes --json). */
  json: Record<string, unknown>;
}

interface ErrorBody {
  code: string;
  message: string;
  hint?: string;
  nativeStatus?: string;
  nativeName?: string;
  refusals?: { providerId: string; reasons: string[] }[];
}

interface ScanRow {
  ref: string;
  name: string;
  scope: string;
  algorithm: string | null;
  exportable: boolean | null;
  movable: boolean;
  targets: string[];
  reasons: string[];
}

/** Runs the CLI in Windows Node with `--json`; an empty machine policy file keeps the run hermetic. */
async function keystore(args: string[]): Promise<CliResult> {
  const r = await runWineNode([CLI, ...args, '--json'], {
    env: { KEYSTORE_MACHINE_POLICY: MACHINE_POLICY },
    timeoutMs: TIMEOUT - 10_000,
  });
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`keystore ${args.join(' ')} (exit ${r.code}) printed no JSON:\n${r.stdout}\n${r.stderr}`);
  }
  return { ...r, json };
}

const errorOf = (r: CliResult) => r.json.error as ErrorBody;
const describeRun = (args: string[], r: WineRunResult) => `keystore ${args.join(' ')} → exit ${r.code}\n${r.stderr}`;

/** Runs the CLI and expects exit 0. */
async function ok(args: string[]): Promise<CliResult> {
  const r = await keystore(args);
  expect(r.code, describeRun(args, r)).toBe(0);
  return r;
}

/** The capi keys of this run that `keys list` shows. */
async function listedHere(): Promise<string[]> {
  const r = await ok(['keys', 'list', '--provider', 'capi', '--policy', POLICY]);
  return (r.json.keys as { ref: string; name: string }[])
    .filter((k) => k.name.startsWith(run))
    .map((k) => k.ref)
    .sort();
}

/** Signs random data with a legacy key through the CLI (capi provider) and verifies it here with `publicKey`. */
async function signsAs(name: string, publicKey: KeyObject): Promise<boolean> {
  const data = randomBytes(64);
  const file = `${workDir}/data-${randomBytes(3).toString('hex')}.bin`;
  writeFileSync(`${repoRoot}${file}`, data);
  const r = await ok(['keys', 'sign', name, '--provider', 'capi', '--policy', POLICY, '--in', file]);
  expect(r.json).toMatchObject({ ref: `keystore:capi:user:${name}`, hash: 'sha256', padding: 'pkcs1' });
  return verify('sha256', data, publicKey, Buffer.from(String(r.json.signature), 'base64'));
}

/**
 * The public key in a `BCRYPT_RSAPUBLIC_BLOB`, decoded here independently of the provider's codec:
 * `BCRYPT_RSAKEY_BLOB { Magic 'RSA1', BitLength, cbPublicExp, cbModulus, cbPrime1, cbPrime2 }`, then the
 * exponent and the modulus, big-endian.
 */
function publicKeyOfRsaPublicBlob(blob: Buffer): KeyObject {
  expect(blob.readUInt32LE(0)).toBe(0x31415352); // 'RSA1'
  const cbExp = blob.readUInt32LE(8);
  const cbModulus = blob.readUInt32LE(12);
  expect(blob.length).toBe(24 + cbExp + cbModulus);
  const e = blob.subarray(24, 24 + cbExp);
  const n = blob.subarray(24 + cbExp);
  return createPublicKey({
    key: { kty: 'RSA', e: e.toString('base64url'), n: n.toString('base64url') },
    format: 'jwk',
  });
}

const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });

describe.skipIf(!wine.available)(`keystore migrate in Windows Node (needs Wine: ${wine.reason})`, () => {
  const publicKeys = new Map<string, KeyObject>();

  beforeAll(async () => {
    const missing = BUILT.filter((file) => !existsSync(`${repoRoot}${file}`));
    if (missing.length > 0) {
      throw new Error(`not built: ${missing.join(', ')}; run npm run build -w @keystore/cli (and the providers)`);
    }
    mkdirSync(`${repoRoot}${workDir}`, { recursive: true });
    writeFileSync(`${repoRoot}${POLICY}`, JSON.stringify(migratePolicy));
    writeFileSync(`${repoRoot}${MACHINE_POLICY}`, '{}');
    // The legacy keys, as an old app would have left them: made by the CLI, each in its own process.
    const create = (name: string, extra: string[]) =>
      ok(['keys', 'create', name, '--provider', 'capi', '--algorithm', 'RSA-2048', ...extra, '--policy', POLICY]);
    const made = await Promise.all([create(EXPORTABLE, ['--exportable']), create(LOCKED, [])]);
    for (const r of made) publicKeys.set(String(r.json.name), createPublicKey(String(r.json.publicKey)));
    expect(made.map((r) => [r.json.name, r.json.exportable, r.json.persistent])).toEqual([
      [EXPORTABLE, true, true],
      [LOCKED, false, true],
    ]);
  }, TIMEOUT);

  afterAll(async () => {
    // Best effort, for a run that failed before its cleanup test: delete whatever this run left.
    await runWineScript(
      `const { createProvider } = require('@keystore/provider-capi');
      const { TEST_POLICY_SOURCES } = require('@keystore/core/testing');
      (async () => { const p = createProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null } });
        for (const k of await p.listKeys({ scope: 'user' }))
          if (k.name.startsWith(${JSON.stringify(run)})) await p.deleteKey({ name: k.name, scope: 'user' }).catch(() => {});
        await p.close(); console.log('{}'); })();`,
      { timeoutMs: 60_000 },
    ).catch(() => undefined);
    rmSync(`${repoRoot}${workDir}`, { recursive: true, force: true });
  }, TIMEOUT);

  it(
    '--scan --json finds both containers: the non-exportable one cannot move because it is non-exportable, the ' +
      'exportable one only because Wine’s CNG is below os-isolated',
    async () => {
      const r = await ok(['migrate', '--scan', '--policy', POLICY]);
      const rows = (r.json.keys as ScanRow[]).filter((k) => k.name.startsWith(run));
      const byName = Object.fromEntries(rows.map((k) => [k.name, k]));
      expect(Object.keys(byName).sort()).toEqual([LOCKED, EXPORTABLE].sort());
      expect(r.json.targets).toEqual(['cng']);
      expect(r.json.policyBlockers).toEqual([]);

      const locked = byName[LOCKED];
      expect(locked).toMatchObject({
        ref: `keystore:capi:user:${LOCKED}`,
        algorithm: 'RSA-2048',
        exportable: false,
        movable: false,
      });
      expect(locked?.reasons.some((reason) => reason.includes('non-exportable'))).toBe(true);

      // Under Wine the only thing that keeps the exportable key from moving is the target's isolation.
      const open = byName[EXPORTABLE];
      expect(open).toMatchObject({ algorithm: 'RSA-2048', exportable: true, movable: false, targets: [] });
      expect(open?.reasons).toHaveLength(1);
      expect(open?.reasons[0]).toContain('os-isolated');
      expect(open?.reasons[0]).not.toContain('non-exportable');
    },
    TIMEOUT,
  );

  it(
    '--scan --unsafe-allow-weak-target lists the exportable container as movable to cng',
    async () => {
      // The help offers --unsafe-allow-weak-target with --scan: the scan must then judge targets as the
      // move with that flag does (the move with it reaches the import, see below).
      const r = await ok(['migrate', '--scan', '--unsafe-allow-weak-target', '--policy', POLICY]);
      const rows = (r.json.keys as ScanRow[]).filter((k) => k.name.startsWith(run));
      const byName = Object.fromEntries(rows.map((k) => [k.name, k]));
      expect(byName[EXPORTABLE]).toMatchObject({ exportable: true, movable: true, targets: ['cng'], reasons: [] });
      expect(byName[LOCKED]).toMatchObject({ exportable: false, movable: false });
    },
    TIMEOUT,
  );

  it(
    'the non-exportable container: exit 5, ERR_KEYSTORE_NOT_EXPORTABLE with a new key as the way out; it stays and signs',
    async () => {
      const args = ['migrate', '--from', `capi:${LOCKED}`, '--to', 'cng', '--delete-source', '--policy', POLICY];
      const r = await keystore([...args, '--unsafe-allow-weak-target']);
      expect(r.code, describeRun(args, r)).toBe(5);
      const error = errorOf(r);
      expect(error.code).toBe('ERR_KEYSTORE_NOT_EXPORTABLE');
      expect(error.hint).toContain('keystore keys create');
      expect(error.hint).toContain('--provider cng');

      expect(await listedHere()).toContain(`keystore:capi:user:${LOCKED}`);
      expect(await signsAs(LOCKED, publicKeys.get(LOCKED) as KeyObject)).toBe(true);
    },
    TIMEOUT,
  );

  it(
    'the exportable container without --unsafe-allow-weak-target: exit 3, cng refused below os-isolated',
    async () => {
      const args = ['migrate', '--from', `capi:${EXPORTABLE}`, '--to', 'cng', '--delete-source', '--policy', POLICY];
      const r = await keystore(args);
      expect(r.code, describeRun(args, r)).toBe(3);
      const error = errorOf(r);
      expect(error.code).toBe('ERR_KEYSTORE_NO_PROVIDER');
      expect(error.refusals?.map((x) => x.providerId)).toEqual(['cng']);
      expect(error.refusals?.[0]?.reasons.join(' ')).toContain('in-process');
      expect(await listedHere()).toContain(`keystore:capi:user:${EXPORTABLE}`);
    },
    TIMEOUT,
  );

  it(
    'the exportable container with --unsafe-allow-weak-target --delete-source: exit 5 at the named CNG import ' +
      '(NTE_NOT_SUPPORTED under Wine), and the source is not deleted and still signs',
    async () => {
      const args = [
        'migrate',
        '--from',
        `capi:${EXPORTABLE}`,
        '--to',
        `cng:${EXPORTABLE}-moved`,
        '--delete-source',
        '--unsafe-allow-weak-target',
        '--policy',
        POLICY,
      ];
      const r = await keystore(args);
      expect(r.code, describeRun(args, r)).toBe(5);
      const error = errorOf(r);
      expect(error).toMatchObject({
        code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION',
        nativeName: 'NTE_NOT_SUPPORTED',
        nativeStatus: '0x80090029',
      });

      expect(await listedHere()).toEqual([`keystore:capi:user:${LOCKED}`, `keystore:capi:user:${EXPORTABLE}`].sort());
      expect(await signsAs(EXPORTABLE, publicKeys.get(EXPORTABLE) as KeyObject)).toBe(true);
    },
    TIMEOUT,
  );

  it(
    'what Wine does implement of the move: CryptoAPI export → unnamed CNG import of the RSAFULLPRIVATEBLOB → a CNG ' +
      'signature that verifies with the source public key; the CNG key has the same public key',
    async () => {
      const data = randomBytes(100);
      const digest = createHash('sha256').update(data).digest();
      const r = await runWineScript(
        `const core = require('@keystore/core');
const { createProvider } = require('@keystore/provider-capi');
const native = require('@keystore/provider-cng/native');
(async () => {
  const store = await core.createKeyStore({ providers: [createProvider()], policy: ${JSON.stringify(migratePolicy)} });
  const source = await store.openKey(${JSON.stringify(`keystore:capi:user:${EXPORTABLE}`)});
  const out = { sourceSpki: source.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    sourceIsolation: source.isolation.level };
  const privateKey = await source.exportPrivateKey();
  const blob = native.rsaFullPrivateBlobFromKeyObject(privateKey);
  const ncrypt = native.loadNCrypt();
  const prov = ncrypt.openStorageProvider(native.MS_KEY_STORAGE_PROVIDER);
  let key;
  try {
    key = await ncrypt.importKey(prov, native.BCRYPT_RSAFULLPRIVATE_BLOB, blob, null, 0);
    const signature = await ncrypt.signHash(key, Buffer.from(${JSON.stringify(digest.toString('hex'))}, 'hex'),
      { kind: 'pkcs1', hash: 'SHA256' });
    out.signature = signature.toString('base64');
    out.cngPublicBlob = ncrypt.exportKey(key, native.BCRYPT_RSAPUBLIC_BLOB).toString('base64');
    out.cngAlgorithmGroup = ncrypt.getStringProperty(key, native.NCRYPT_ALGORITHM_GROUP_PROPERTY);
    out.cngLength = ncrypt.getDwordProperty(key, native.NCRYPT_LENGTH_PROPERTY);
  } finally {
    if (key !== undefined) ncrypt.freeObject(key);
    ncrypt.freeObject(prov);
    await source.close();
    await store.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`,
        { env: { KEYSTORE_MACHINE_POLICY: MACHINE_POLICY }, timeoutMs: TIMEOUT - 10_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const out = r.json as {
        sourceSpki: string;
        sourceIsolation: string;
        signature: string;
        cngPublicBlob: string;
        cngAlgorithmGroup: string;
        cngLength: number;
      };
      const source = publicKeys.get(EXPORTABLE) as KeyObject;
      // The key the script opened is the one created in beforeAll.
      expect(Buffer.from(out.sourceSpki, 'base64').equals(spki(source))).toBe(true);
      expect(out.sourceIsolation).toBe('in-process');
      // The migration's verification step: the new key's signature verifies with the SOURCE public key.
      expect(verify('sha256', data, source, Buffer.from(out.signature, 'base64'))).toBe(true);
      expect(verify('sha256', randomBytes(100), source, Buffer.from(out.signature, 'base64'))).toBe(false);
      // And the CNG key's own public key is the source's.
      expect(spki(publicKeyOfRsaPublicBlob(Buffer.from(out.cngPublicBlob, 'base64'))).equals(spki(source))).toBe(true);
      expect([out.cngAlgorithmGroup, out.cngLength]).toEqual(['RSA', 2048]);
    },
    TIMEOUT,
  );

  it(
    'cleanup: keys delete removes both legacy containers',
    async () => {
      await ok(['keys', 'delete', EXPORTABLE, LOCKED, '--provider', 'capi', '--policy', POLICY]);
      expect(await listedHere()).toEqual([]);
    },
    TIMEOUT,
  );
});
