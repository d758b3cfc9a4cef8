/**
 * Helpers for the CLI tests: spawn the built `keystore` binary with a controlled environment, and install
 * test-double provider packages beside a copy of the CLI (a temporary `node_modules` holding the built
 * CLI, links to core and the workspace's providers, and the test doubles), since the CLI loads providers
 * only from its own installation.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
export const BIN = resolve(here, '../dist/bin.js');
const CORE_DIST = resolve(here, '../../core/dist/index.js');
const CLI_DIR = resolve(here, '..');
const WORKSPACE_SCOPE = resolve(here, '../../../node_modules/@keystore');

/** Removes `path` when it is a symbolic link (so that a test double never writes through one). */
function unlinkIfLink(path: string): void {
  try {
    if (lstatSync(path).isSymbolicLink()) unlinkSync(path);
  } catch {
    // absent
  }
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  raw: Buffer;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  cwd?: string;
  /**
   * Runs the CLI as if the machine had no `/etc/keystore/policy.json`: when `/etc/keystore` exists,
   * in a private mount namespace (unshare, util-linux; a user namespace too when not root) where an
   * empty tmpfs covers it. The machine's own file is neither read nor changed.
   */
  withoutFixedPolicy?: boolean;
}

const FIXED_POLICY_DIR = '/etc/keystore';

/** The command that runs `argv` with `/etc/keystore` covered by an empty tmpfs, or `argv` when there is none. */
function withoutFixedPolicyDir(argv: readonly string[]): string[] {
  if (!existsSync(FIXED_POLICY_DIR)) return [...argv];
  if (process.platform !== 'linux') {
    throw new Error(`${FIXED_POLICY_DIR} exists and only Linux can hide it from one process (a mount namespace)`);
  }
  const asRoot = process.getuid?.() === 0;
  return [
    'unshare',
    ...(asRoot ? [] : ['--map-root-user']),
    '--mount',
    '--propagation',
    'private',
    '--',
    '/bin/sh',
    '-c',
    `mount -t tmpfs -o size=64k,mode=755 keystore-test ${FIXED_POLICY_DIR} && exec "$@"`,
    'sh',
    ...argv,
  ];
}

/** A temporary directory with a machine policy slot, removed by `cleanup()`. */
export class Sandbox {
  readonly dir: string;
  /** The file `KEYSTORE_MACHINE_POLICY` points to (absent until `machinePolicy()` writes it). */
  readonly machinePolicyFile: string;
  /**
   * The `node_modules` of this sandbox's copy of the CLI, where test-double providers are installed
   * (undefined until one is): a provider is loaded only from beside the CLI.
   */
  providersDir: string | undefined;

  constructor() {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first (npm run build -w @keystore/cli)`);
    this.dir = mkdtempSync(join(tmpdir(), 'keystore-cli-test-'));
    this.machinePolicyFile = join(this.dir, 'machine-policy.json');
    this.machinePolicy({});
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  write(name: string, content: string | Buffer | object): string {
    const file = this.path(name);
    mkdirSync(resolve(file, '..'), { recursive: true });
    writeFileSync(file, typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content));
    return file;
  }

  machinePolicy(policy: object): void {
    writeFileSync(this.machinePolicyFile, JSON.stringify(policy));
  }

  /**
   * The `keystore` binary to run: with test doubles installed, this sandbox's copy of the CLI (with
   * core, the workspace's providers that no test double replaces, and the test doubles beside it);
   * else the workspace's.
   */
  get bin(): string {
    if (this.providersDir === undefined) return BIN;
    const scope = join(this.providersDir, '@keystore');
    const cli = join(scope, 'cli');
    if (!existsSync(join(cli, 'dist', 'bin.js'))) {
      mkdirSync(cli, { recursive: true });
      cpSync(join(CLI_DIR, 'dist'), join(cli, 'dist'), { recursive: true });
      cpSync(join(CLI_DIR, 'package.json'), join(cli, 'package.json'));
    }
    for (const entry of readdirSync(WORKSPACE_SCOPE)) {
      if (entry !== 'core' && !entry.startsWith('provider-')) continue;
      const target = join(scope, entry);
      if (!existsSync(target)) symlinkSync(join(WORKSPACE_SCOPE, entry), target, 'dir');
    }
    return join(cli, 'dist', 'bin.js');
  }

  /** The directory of a provider package installed beside this sandbox's CLI (replacing any link there). */
  private packageDir(id: string): string {
    this.providersDir ??= this.path('install/node_modules');
    const pkgDir = join(this.providersDir, '@keystore', `provider-${id}`);
    unlinkIfLink(pkgDir);
    mkdirSync(pkgDir, { recursive: true });
    return pkgDir;
  }

  /**
   * Installs a provider package beside this sandbox's CLI whose module, when imported, writes the file
   * `marker` (and which would claim `hardware` isolation): to see that a package is never imported.
   */
  installMarkerProvider(id: string, marker: string, packageJson: Record<string, unknown> = {}): string {
    const pkgDir = this.packageDir(id);
    writePackage(pkgDir, id, marker, packageJson);
    return pkgDir;
  }

  /** Installs the file-backed fake provider (a test double) and returns its key directory. */
  installFakeProvider(options: FakeProviderOptions = {}): string {
    const id = options.id ?? 'fake';
    const pkgDir = this.packageDir(id);
    writeFileSync(
      join(pkgDir, 'package.json'),
      JSON.stringify({ name: `@keystore/provider-${id}`, version: '0.0.0-test', type: 'module', main: 'index.js' }),
    );
    writeFileSync(join(pkgDir, 'index.js'), fakeProviderSource(id, options));
    const store = this.path(`${id}-keys`);
    mkdirSync(store, { recursive: true });
    return store;
  }

  /**
   * Puts a key straight into a fake provider installed with `ownStore` (as if some other program had
   * made it) and returns its private key.
   */
  seedFakeKey(
    id: string,
    name: string,
    options: {
      algorithm?: 'RSA-2048' | 'ECDSA-P256' | 'ECDSA-P384';
      scope?: 'user' | 'machine';
      exportable?: boolean;
    } = {},
  ): KeyObject {
    const algorithm = options.algorithm ?? 'RSA-2048';
    const privateKey =
      algorithm === 'RSA-2048'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
        : generateKeyPairSync('ec', { namedCurve: algorithm === 'ECDSA-P384' ? 'secp384r1' : 'prime256v1' }).privateKey;
    const dir = join(this.path('fake-keys'), id, options.scope ?? 'user');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `${name}.json`),
      JSON.stringify({
        algorithm,
        exportable: options.exportable ?? false,
        pem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      }),
    );
    return privateKey;
  }

  /** Whether a fake provider installed with `ownStore` holds a key by that name. */
  hasFakeKey(id: string, name: string, scope: 'user' | 'machine' = 'user'): boolean {
    return existsSync(join(this.path('fake-keys'), id, scope, `${name}.json`));
  }

  /** Installs a provider package whose entry throws when imported. */
  installBrokenProvider(id = 'broken'): void {
    const pkgDir = this.packageDir(id);
    writeFileSync(
      join(pkgDir, 'package.json'),
      JSON.stringify({ name: `@keystore/provider-${id}`, version: '0.0.0-test', type: 'module', main: 'index.js' }),
    );
    writeFileSync(join(pkgDir, 'index.js'), "throw new Error('native library libbroken.so not found');\n");
  }

  run(args: readonly string[], options: RunOptions = {}): Result {
    const env: Record<string, string | undefined> = { ...process.env };
    // Only what each test sets: no machine policy, providers dir or TPM config from the caller's shell.
    for (const name of Object.keys(env)) if (name.startsWith('KEYSTORE_') || name.startsWith('TSS2_')) delete env[name];
    env.KEYSTORE_MACHINE_POLICY = this.machinePolicyFile;
    env.KEYSTORE_FAKE_STORE = this.path('fake-keys');
    Object.assign(env, options.env ?? {});
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const argv = [process.execPath, this.bin, ...args];
    const [command, ...rest] = options.withoutFixedPolicy === true ? withoutFixedPolicyDir(argv) : argv;
    const out: SpawnSyncReturns<Buffer> = spawnSync(command as string, rest, {
      cwd: options.cwd ?? this.dir,
      env: env as NodeJS.ProcessEnv,
      input: options.input ?? '',
      timeout: 60_000,
    });
    if (out.error) throw out.error;
    return {
      code: out.status ?? -1,
      stdout: out.stdout.toString('utf8'),
      stderr: out.stderr.toString('utf8'),
      raw: out.stdout,
    };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Writes a provider package at `dir` whose module writes `marker` when imported and then offers a
 * provider that claims `hardware`: what a planted package would look like.
 */
export function writePackage(dir: string, id: string, marker: string, packageJson: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: `@keystore/provider-${id}`,
      version: '6.6.6',
      type: 'module',
      main: 'index.js',
      ...packageJson,
    }),
  );
  writeFileSync(
    join(dir, 'index.js'),
    `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(marker)}, 'imported by ' + process.pid);
export function createProvider() {
  return {
    id: ${JSON.stringify(id)},
    displayName: 'planted',
    capabilities: {
      algorithms: ['ECDSA-P256'], operations: ['sign'], scopes: ['user', 'machine'], exportableKeys: false,
      passwords: false, legacyCryptoApi: false, rsaSignaturePaddings: [], oaepHashes: [],
    },
    async probe() { return { available: true, isolation: 'hardware', reasons: [] }; },
    async createKey() { throw new Error('planted'); },
    async openKey() { throw new Error('planted'); },
    async deleteKey() {},
    async listKeys() { return []; },
  };
}
`,
  );
}

/** Parses stdout as JSON. */
export function parse<T = Record<string, unknown>>(result: Result): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
}

/** The non-empty lines of stderr. */
export function stderrLines(result: Result): string[] {
  return result.stderr.split('\n').filter((l) => l.length > 0);
}

/** How a fake provider package differs from the default one. */
export interface FakeProviderOptions {
  /** The provider id and package suffix (default `fake`). */
  id?: string;
  /** Its isolation (default: `KEYSTORE_FAKE_ISOLATION`, else `os-isolated`). */
  isolation?: string;
  /** Claim to be a legacy CryptoAPI provider. */
  legacyCryptoApi?: boolean;
  /** Claim and implement importKey. */
  importKeys?: boolean;
  /** Claim exportable keys (and export them). */
  exportableKeys?: boolean;
  /** Extra probe details (posture facts …). */
  details?: Record<string, string | number | boolean>;
  /** Keep keys under `KEYSTORE_FAKE_STORE/<id>/`, apart from other fakes (default: shared). */
  ownStore?: boolean;
}

/**
 * The source of `@keystore/provider-<id>`: a TEST DOUBLE that keeps keys as PEM files in the directory
 * named by `KEYSTORE_FAKE_STORE`, so keys outlive one CLI process. Its isolation is whatever
 * `KEYSTORE_FAKE_ISOLATION` says (default `os-isolated`) unless `options.isolation` fixes it;
 * `KEYSTORE_FAKE_SIMULATOR=1` adds `simulator: true` to its probe details. `KEYSTORE_FAKE_FAULTS`
 * (`id:fault,…`) makes it misbehave: `bad-signature` (signatures that do not verify), `delete-fails`,
 * `import-not-persisted` (importKey returns a working key but keeps nothing, as Wine's CNG does),
 * `import-stores-other` (importKey returns the key it was given but keeps a different one),
 * `list-unsupported` (listKeys fails with ERR_KEYSTORE_UNSUPPORTED_OPERATION, as Wine's CNG does).
 * `KEYSTORE_FAKE_OPEN_LOG` names a file to which each openKey appends a line `id:scope:name`.
 */
function fakeProviderSource(id: string, options: FakeProviderOptions = {}): string {
  return `// Test double: a file-backed provider for the CLI tests. Not a real key store.
import {
  constants, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, privateEncrypt, sign,
} from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyStoreError } from ${JSON.stringify(pathToFileURL(CORE_DIST).href)};

const ID = ${JSON.stringify(id)};
const OPTIONS = ${JSON.stringify(options)};
const root = () => (OPTIONS.ownStore ? join(process.env.KEYSTORE_FAKE_STORE, ID) : process.env.KEYSTORE_FAKE_STORE);
const isolation = () => OPTIONS.isolation || process.env.KEYSTORE_FAKE_ISOLATION || 'os-isolated';
const fault = (name) => (process.env.KEYSTORE_FAKE_FAULTS || '').split(',').includes(ID + ':' + name);
const spoil = (signature) => {
  if (!fault('bad-signature')) return signature;
  const copy = Buffer.from(signature);
  copy[copy.length - 1] ^= 0xff;
  return copy;
};
const ALGORITHMS = ['RSA-2048', 'ECDSA-P256', 'ECDSA-P384'];
const DIGEST_INFO = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

function file(scope, name) {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new KeyStoreError('ERR_KEYSTORE_INVALID_NAME', 'bad name: ' + name, { providerId: ID });
  return join(root(), scope, name + '.json');
}

function generate(algorithm) {
  if (algorithm === 'RSA-2048') return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const namedCurve = algorithm === 'ECDSA-P384' ? 'secp384r1' : 'prime256v1';
  return generateKeyPairSync('ec', { namedCurve }).privateKey;
}

function makeKey(name, scope, algorithm, privateKey, exportable = false) {
  const rsa = algorithm.startsWith('RSA');
  const opts = (params) =>
    rsa
      ? {
          key: privateKey,
          padding: params.padding === 'pss' ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING,
          saltLength: params.saltLength,
        }
      : { key: privateKey, dsaEncoding: 'der' };
  return {
    name, scope, algorithm, exportable,
    isolation: { level: isolation(), providerId: ID, measuredAt: new Date().toISOString(), evidence: ['test double: key kept in a file'] },
    publicKey: createPublicKey(privateKey),
    async signMessage(data, params) {
      return { signature: spoil(sign(params.hash, data, opts(params))), ...(rsa ? {} : { dsaEncoding: 'der' }) };
    },
    async signDigest(digest, params) {
      if (!rsa) return { signature: spoil(sign(null, digest, { key: privateKey, dsaEncoding: 'der' })), dsaEncoding: 'der' };
      if (params.padding !== 'pkcs1') throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', 'pss over a digest', { providerId: ID });
      const info = Buffer.concat([Buffer.from(DIGEST_INFO[params.hash], 'hex'), digest]);
      return { signature: spoil(privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, info)) };
    },
    ...(exportable
      ? {
          async exportPrivateKey() {
            return privateKey;
          },
        }
      : {}),
    ...(rsa
      ? {
          async decrypt(ciphertext, hash) {
            return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ciphertext);
          },
        }
      : {}),
    async close() {},
  };
}

function notFound(name, scope) {
  return new KeyStoreError('ERR_KEYSTORE_KEY_NOT_FOUND', 'no key ' + name + ' in the ' + scope + ' scope', { providerId: ID });
}

export function createProvider() {
  return {
    id: ID,
    displayName: OPTIONS.legacyCryptoApi ? 'File-backed test double (plays a legacy CryptoAPI provider)' : 'File-backed test double',
    capabilities: {
      algorithms: ALGORITHMS,
      operations: ['sign', 'decrypt'],
      scopes: ['user', 'machine'],
      exportableKeys: OPTIONS.exportableKeys === true,
      passwords: false,
      legacyCryptoApi: OPTIONS.legacyCryptoApi === true,
      rsaSignaturePaddings: ['pkcs1', 'pss'],
      oaepHashes: ['sha1', 'sha256', 'sha384', 'sha512'],
      importKeys: OPTIONS.importKeys === true,
    },
    ...(OPTIONS.importKeys
      ? {
          async importKey({ name, algorithm, scope, exportable, privateKey }) {
            if (!ALGORITHMS.includes(algorithm)) {
              throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM', algorithm + ' is not supported', { providerId: ID });
            }
            const path = file(scope, name);
            if (existsSync(path)) throw new KeyStoreError('ERR_KEYSTORE_KEY_EXISTS', 'key ' + name + ' exists', { providerId: ID });
            mkdirSync(join(root(), scope), { recursive: true });
            const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
            const kept = fault('import-stores-other') ? generate(algorithm).export({ type: 'pkcs8', format: 'pem' }) : pem;
            if (!fault('import-not-persisted')) {
              writeFileSync(path, JSON.stringify({ algorithm, exportable: exportable === true, pem: kept }));
            }
            return makeKey(name, scope, algorithm, createPrivateKey(pem), exportable === true);
          },
        }
      : {}),
    async probe() {
      const details = { testDouble: true, ...(OPTIONS.details || {}) };
      if (process.env.KEYSTORE_FAKE_SIMULATOR === '1') details.simulator = true;
      return { available: true, isolation: isolation(), reasons: [], details };
    },
    async createKey({ name, algorithm, scope, signal, exportable }) {
      // KEYSTORE_FAKE_CREATE_DELAY_MS: a slow device, which notes in KEYSTORE_FAKE_CREATE_STARTED that
      // it has started and honours the signal like a provider should.
      const delay = Number(process.env.KEYSTORE_FAKE_CREATE_DELAY_MS || 0);
      if (delay > 0) {
        if (process.env.KEYSTORE_FAKE_CREATE_STARTED) writeFileSync(process.env.KEYSTORE_FAKE_CREATE_STARTED, 'started');
        await new Promise((done, fail) => {
          const timer = setTimeout(done, delay);
          signal?.addEventListener('abort', () => {
            clearTimeout(timer);
            fail(new KeyStoreError('ERR_KEYSTORE_CANCELLED', 'create cancelled', { providerId: ID }));
          }, { once: true });
        });
      }
      if (!ALGORITHMS.includes(algorithm)) {
        throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_ALGORITHM', algorithm + ' is not supported', { providerId: ID });
      }
      const path = file(scope, name);
      if (existsSync(path)) throw new KeyStoreError('ERR_KEYSTORE_KEY_EXISTS', 'key ' + name + ' exists', { providerId: ID });
      const privateKey = generate(algorithm);
      const keep = exportable === true && OPTIONS.exportableKeys === true;
      mkdirSync(join(root(), scope), { recursive: true });
      writeFileSync(path, JSON.stringify({ algorithm, exportable: keep, pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) }));
      return makeKey(name, scope, algorithm, privateKey, keep);
    },
    async openKey({ name, scope }) {
      if (process.env.KEYSTORE_FAKE_OPEN_LOG) appendFileSync(process.env.KEYSTORE_FAKE_OPEN_LOG, ID + ':' + scope + ':' + name + '\\n');
      const path = file(scope, name);
      if (!existsSync(path)) throw notFound(name, scope);
      const { algorithm, pem, exportable } = JSON.parse(readFileSync(path, 'utf8'));
      return makeKey(name, scope, algorithm, createPrivateKey(pem), exportable === true);
    },
    async listKeys(options = {}) {
      if (fault('list-unsupported')) {
        throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', ID + ' cannot enumerate its keys here', { providerId: ID });
      }
      const out = [];
      for (const scope of options.scope ? [options.scope] : ['user', 'machine']) {
        let names = [];
        try { names = readdirSync(join(root(), scope)); } catch {}
        for (const entry of names.sort()) {
          const { algorithm } = JSON.parse(readFileSync(join(root(), scope, entry), 'utf8'));
          out.push({ name: entry.slice(0, -5), scope, algorithm });
        }
      }
      return out;
    },
    async deleteKey({ name, scope }) {
      const path = file(scope, name);
      if (!existsSync(path)) throw notFound(name, scope);
      if (fault('delete-fails')) throw new KeyStoreError('ERR_KEYSTORE_ACCESS_DENIED', 'the container is locked', { providerId: ID });
      rmSync(path);
    },
  };
}
`;
}
