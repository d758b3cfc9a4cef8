/**
 * Test support for Windows code under Wine: run Windows Node.js (or any Windows program) through
 * `scripts/wine/exec.sh`, and drive a provider that executes inside Windows Node from Linux tests
 * (`startWineProvider`, served by `scripts/wine/agent.cjs`).
 *
 * Tests use `wine.available` to skip with a message when Wine is missing. With
 * `KEYSTORE_REQUIRE_WINE=1` (set by CI) a missing Wine fails the test file instead.
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, KeyObject, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  type IsolationReceipt,
  type KeyAlgorithm,
  type KeyScope,
  KeyStoreError,
  type KeyStoreErrorCode,
  type KeyStoreProvider,
  type OaepHash,
  type OperationOptions,
  type ProbeResult,
  type ProviderCapabilities,
  type ProviderCreateRequest,
  type ProviderImportRequest,
  type ProviderKey,
  type ProviderKeyInfo,
  type ProviderKeyRequest,
  type ProviderSignature,
  type ProviderSignParams,
} from '@keystore/core';

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const execScript = `${repoRoot}scripts/wine/exec.sh`;
const agentScript = 'scripts/wine/agent.cjs';

function findWine(): string | undefined {
  const candidates = ['/usr/lib/wine/wine64', '/usr/bin/wine64', '/usr/bin/wine'];
  return candidates.find((c) => existsSync(c));
}

function wineStatus(): { available: boolean; reason: string } {
  if (process.platform !== 'linux') return { available: false, reason: 'runs Windows code under Wine on Linux' };
  if (!findWine()) return { available: false, reason: 'wine64 is not installed (apt-get install wine64)' };
  if (!existsSync(`${repoRoot}node_modules/koffi/package.json`)) {
    return { available: false, reason: 'node_modules/koffi is missing (npm ci)' };
  }
  return { available: true, reason: 'Debian wine64 with Windows Node.js (scripts/wine/node.sh)' };
}

/** Whether Wine can run here, and a reason to show in skip messages. */
export const wine: { readonly available: boolean; readonly reason: string } = wineStatus();
if (!wine.available && process.env.KEYSTORE_REQUIRE_WINE === '1') {
  throw new Error(`KEYSTORE_REQUIRE_WINE=1 but Wine cannot run here: ${wine.reason}`);
}

/** mingw-w64's C compiler, when installed. */
export const mingw: { readonly available: boolean; readonly reason: string; readonly gcc: string } = (() => {
  const gcc = '/usr/bin/x86_64-w64-mingw32-gcc';
  if (existsSync(gcc)) return { available: true, reason: 'Debian gcc-mingw-w64-x86-64', gcc };
  if (process.env.KEYSTORE_REQUIRE_WINE === '1') {
    throw new Error('KEYSTORE_REQUIRE_WINE=1 but x86_64-w64-mingw32-gcc is not installed');
  }
  return { available: false, reason: 'gcc-mingw-w64-x86-64 is not installed', gcc };
})();

/** Options of {@link runWineNode}, {@link runWineScript} and {@link runWineExe}. */
export interface WineRunOptions {
  /** Extra environment variables (the Windows process sees them). */
  env?: Record<string, string>;
  /** Kill the process after this long (default 120 s). */
  timeoutMs?: number;
  /** Text given to the program's stdin. */
  input?: string;
  /** `WINEDEBUG` (default `-all`); `fixme+ncrypt` shows calls that landed on Wine's stubs. */
  wineDebug?: string;
}

/** What a Windows program under Wine printed, and its exit code. */
export interface WineRunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `scripts/wine/exec.sh PROGRAM ARGS…` from the repository root. */
export function runWineExe(program: string, args: string[], options: WineRunOptions = {}): Promise<WineRunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(execScript, [program, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...options.env, WINEDEBUG: options.wineDebug ?? process.env.WINEDEBUG ?? '-all' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs Windows Node.js with `args` (like `node ARGS…`) from the repository root. */
export function runWineNode(args: string[], options: WineRunOptions = {}): Promise<WineRunResult> {
  return runWineExe('node', args, options);
}

function tmpDir(): string {
  const dir = `${repoRoot}.tmp/wine`;
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Writes `source` (CommonJS; it may `require` the workspace's built packages) to a file under
 * `.tmp/wine/` and runs it in Windows Node. When the last line of stdout is JSON it is parsed.
 */
export async function runWineScript(
  source: string,
  options: WineRunOptions = {},
): Promise<WineRunResult & { json?: unknown }> {
  const file = `${tmpDir()}/script-${randomBytes(6).toString('hex')}.cjs`;
  writeFileSync(file, source);
  try {
    const result = await runWineNode([file.slice(repoRoot.length)], options);
    const last = result.stdout.trimEnd().split('\n').pop() ?? '';
    try {
      return { ...result, json: JSON.parse(last) };
    } catch {
      return result;
    }
  } finally {
    rmSync(file, { force: true });
  }
}

/** The `fixme:ncrypt:…` lines of a run with `wineDebug: 'fixme+ncrypt'`: calls that hit Wine's stubs. */
export function stubCalls(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /fixme:ncrypt:/.test(line));
}

// ---------------------------------------------------------------------------------------------
// A provider running inside Windows Node, driven from here.

type Wire = unknown;

function encode(value: unknown): Wire {
  if (value === null || value === undefined) return value;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { $b: Buffer.from(value).toString('base64') };
  if (value instanceof KeyObject) {
    return value.type === 'private'
      ? { $k: 'private', der: value.export({ format: 'der', type: 'pkcs8' }).toString('base64') }
      : { $k: 'public', der: value.export({ format: 'der', type: 'spki' }).toString('base64') };
  }
  if (value instanceof AbortSignal) return undefined;
  if (Array.isArray(value)) return value.map(encode);
  if (typeof value === 'object') {
    const out: Record<string, Wire> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (typeof v !== 'function' && !(v instanceof AbortSignal)) out[k] = encode(v);
    }
    return out;
  }
  return value;
}

function decode(value: Wire): unknown {
  if (value === null || value === undefined || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(decode);
  const v = value as Record<string, unknown>;
  if (typeof v.$b === 'string') return Buffer.from(v.$b, 'base64');
  if (v.$k === 'public') {
    return createPublicKey({ key: Buffer.from(v.der as string, 'base64'), format: 'der', type: 'spki' });
  }
  if (v.$k === 'private') {
    return createPrivateKey({ key: Buffer.from(v.der as string, 'base64'), format: 'der', type: 'pkcs8' });
  }
  const out: Record<string, unknown> = {};
  for (const [k, item] of Object.entries(v)) out[k] = decode(item);
  return out;
}

interface WireError {
  name?: string;
  message?: string;
  code?: string;
  providerId?: string;
  nativeStatus?: number;
  nativeName?: string;
  hint?: string;
  refusals?: [];
  issues?: [];
  stack?: string;
}

function toError(e: WireError): Error {
  if (e.name === 'KeyStoreError' && typeof e.code === 'string') {
    const err = new KeyStoreError(e.code as KeyStoreErrorCode, e.message ?? '', {
      providerId: e.providerId,
      nativeStatus: e.nativeStatus,
      nativeName: e.nativeName,
      hint: e.hint,
      refusals: e.refusals,
      issues: e.issues,
    });
    if (e.stack) err.stack = `${err.stack}\n    --- inside Windows Node ---\n${e.stack}`;
    return err;
  }
  return Object.assign(new Error(`${e.name ?? 'Error'} inside Windows Node: ${e.message}`), { code: e.code });
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

class AgentConnection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffered = '';
  private closedError: Error | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly stderrTail: () => string,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    const fail = () => {
      this.closedError = new KeyStoreError(
        'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        `the Windows Node process serving the provider is gone${this.stderrTail() ? `: ${this.stderrTail()}` : ''}`,
      );
      for (const p of this.pending.values()) p.reject(this.closedError);
      this.pending.clear();
    };
    socket.on('close', fail);
    socket.on('error', () => {});
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl = this.buffered.indexOf('\n');
    while (nl >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      nl = this.buffered.indexOf('\n');
      if (!line.trim()) continue;
      const message = JSON.parse(line) as { id: number; ok: boolean; result?: Wire; error?: WireError };
      const p = this.pending.get(message.id);
      if (!p) continue;
      this.pending.delete(message.id);
      if (message.ok) p.resolve(decode(message.result));
      else p.reject(toError(message.error ?? {}));
    }
  }

  call<T>(op: string, args: Record<string, unknown> = {}, signal?: AbortSignal): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const mode = signal === undefined ? undefined : signal.aborted ? 'aborted' : 'live';
    const promise = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.socket.write(`${JSON.stringify({ id, op, args: encode(args), signal: mode })}\n`);
    if (mode === 'live' && signal) {
      const onAbort = () => {
        if (this.pending.has(id)) void this.call('cancel', { target: id }).catch(() => {});
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void promise.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {});
    }
    return promise;
  }

  end(): void {
    this.socket.end();
  }
}

interface WireKey {
  handle: number;
  name: string;
  algorithm: KeyAlgorithm;
  scope: KeyScope;
  exportable: boolean;
  isolation: IsolationReceipt;
  publicKey: KeyObject;
  has: { signMessage: boolean; decrypt: boolean; deriveSecret: boolean; exportPrivateKey: boolean };
}

function remoteKey(conn: AgentConnection, k: WireKey): ProviderKey {
  const key: ProviderKey = {
    name: k.name,
    algorithm: k.algorithm,
    scope: k.scope,
    exportable: k.exportable,
    isolation: k.isolation,
    publicKey: k.publicKey,
    signDigest: (digest: Buffer, params: ProviderSignParams, options?: OperationOptions) =>
      conn.call<ProviderSignature>('key.signDigest', { key: k.handle, digest, params }, options?.signal),
    close: () => conn.call<void>('key.close', { key: k.handle }),
  };
  const extra: Partial<ProviderKey> = {};
  if (k.has.signMessage) {
    extra.signMessage = (data: Buffer, params: ProviderSignParams, options?: OperationOptions) =>
      conn.call<ProviderSignature>('key.signMessage', { key: k.handle, data, params }, options?.signal);
  }
  if (k.has.decrypt) {
    extra.decrypt = (ciphertext: Buffer, hash: OaepHash, options?: OperationOptions) =>
      conn.call<Buffer>('key.decrypt', { key: k.handle, ciphertext, hash }, options?.signal);
  }
  if (k.has.deriveSecret) {
    extra.deriveSecret = (peer: KeyObject, options?: OperationOptions) =>
      conn.call<Buffer>('key.deriveSecret', { key: k.handle, peer }, options?.signal);
  }
  if (k.has.exportPrivateKey) {
    extra.exportPrivateKey = (options?: OperationOptions) =>
      conn.call<KeyObject>('key.exportPrivateKey', { key: k.handle }, options?.signal);
  }
  return Object.assign(key, extra);
}

/** A provider served from inside Windows Node; `stop()` ends that process. */
export type WineProvider = KeyStoreProvider & {
  /** Ends the Windows Node process (closing the provider first). Idempotent. */
  stop(): Promise<void>;
  /** What the Windows Node process wrote to stderr so far. */
  stderr(): string;
};

/** Options of {@link startWineProvider}. */
export interface StartWineProviderOptions {
  /** Repo-relative path of a built CommonJS module, e.g. `packages/provider-capi/dist/index.cjs`. */
  module: string;
  /** The exported factory to call (default `createProvider`). */
  factory?: string;
  /** JSON-serializable options for the factory (Buffers and KeyObjects are carried too). */
  options?: unknown;
  /** Extra environment variables of the Windows Node process. */
  env?: Record<string, string>;
  /** `WINEDEBUG` for the Windows Node process (default `-all`). */
  wineDebug?: string;
  /** How long to wait for the process to listen (default 90 s). */
  startTimeoutMs?: number;
}

/**
 * Starts Windows Node under Wine serving `exports[factory](options)` from `module`, and returns a
 * `KeyStoreProvider` whose every call executes there.
 */
export async function startWineProvider(options: StartWineProviderOptions): Promise<WineProvider> {
  const portFile = `${tmpDir()}/agent-${randomBytes(6).toString('hex')}.port`;
  const args = [
    agentScript,
    '--module',
    options.module,
    '--factory',
    options.factory ?? 'createProvider',
    '--options',
    JSON.stringify(encode(options.options ?? null)),
    '--port-file',
    portFile.slice(repoRoot.length),
  ];
  const child = spawn(execScript, ['node', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...options.env, WINEDEBUG: options.wineDebug ?? process.env.WINEDEBUG ?? '-all' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdout.resume();
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.on('close', () => {
      exited = true;
      resolve();
    });
  });
  const tail = () => stderr.trim().split('\n').slice(-5).join(' | ');

  const deadline = Date.now() + (options.startTimeoutMs ?? 90_000);
  let port = 0;
  while (!port) {
    // Only a complete line counts: the agent may be writing the file in place.
    const text = existsSync(portFile) ? readFileSync(portFile, 'utf8') : '';
    if (/^\d+\n$/.test(text)) port = Number(text.trim());
    else if (exited) throw new Error(`Windows Node exited before serving ${options.module}: ${tail()}`);
    else if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Windows Node did not serve ${options.module} in time: ${tail()}`);
    } else await new Promise((r) => setTimeout(r, 50));
  }
  rmSync(portFile, { force: true });
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const conn = new AgentConnection(socket, tail);
  const meta = await conn.call<{ id: string; displayName: string; capabilities: ProviderCapabilities }>('meta');

  let stopped: Promise<void> | undefined;
  const provider: WineProvider = {
    id: meta.id,
    displayName: meta.displayName,
    capabilities: meta.capabilities,
    probe: (o?: OperationOptions) => conn.call<ProbeResult>('probe', {}, o?.signal),
    createKey: async (request: ProviderCreateRequest) =>
      remoteKey(conn, await conn.call<WireKey>('createKey', { request }, request?.signal)),
    openKey: async (request: ProviderKeyRequest) =>
      remoteKey(conn, await conn.call<WireKey>('openKey', { request }, request?.signal)),
    listKeys: (o?: OperationOptions & { scope?: KeyScope }) =>
      conn.call<ProviderKeyInfo[]>('listKeys', { options: o ?? {} }, o?.signal),
    deleteKey: (request: ProviderKeyRequest) => conn.call<void>('deleteKey', { request }, request?.signal),
    close: () => conn.call<void>('close'),
    stderr: () => stderr,
    stop: () => {
      stopped ??= (async () => {
        if (!exited) {
          await Promise.race([conn.call('shutdown').catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
          conn.end();
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exit;
          clearTimeout(timer);
        }
      })();
      return stopped;
    },
  };
  if (meta.capabilities.importKeys) {
    provider.importKey = async (request: ProviderImportRequest) =>
      remoteKey(conn, await conn.call<WireKey>('importKey', { request }, request?.signal));
  }
  return provider;
}
