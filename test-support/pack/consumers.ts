/**
 * The programs the pack test writes into its scratch project, each generated from the packed
 * packages' `exports` maps, so that a subpath or a package added later is loaded without a change:
 * a JavaScript consumer in ESM and one in CommonJS (run under each tested Node.js), and TypeScript
 * consumers compiled with `module`/`moduleResolution` `node16` (ESM and CommonJS files, compiled and
 * run) and `bundler`, never with `skipLibCheck`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Packed } from './scratch.js';

/** The import specifiers of every subpath a package exports, code and JSON apart. */
export interface Entries {
  code: string[];
  json: string[];
  /** Provider packages (`"keystore": { "provider": ID }` in package.json): package name and id. */
  providers: { name: string; id: string }[];
}

export function entriesOf(packed: Packed[]): Entries {
  const entries: Entries = { code: [], json: [], providers: [] };
  for (const { manifest } of packed) {
    for (const subpath of Object.keys(manifest.exports ?? { '.': null })) {
      if (subpath === './package.json' || subpath.includes('*')) continue;
      const spec = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
      (spec.endsWith('.json') ? entries.json : entries.code).push(spec);
    }
    const id = manifest.keystore?.provider;
    if (id) entries.providers.push({ name: manifest.name, id });
  }
  return entries;
}

/** What a JavaScript consumer prints as its last line. */
export interface ConsumerReport {
  node: string;
  /** Export names of every code entry. */
  exports: Record<string, string[]>;
  /** Top-level keys of every JSON entry. */
  json: Record<string, string[]>;
  /** A memory key signed, verified with node:crypto, then deleted. */
  signed: boolean;
  /** The code of the error for opening a key that does not exist. */
  notFound: string;
  /** The key store a container built from `@keystore/core/di` made a key. */
  di: boolean;
  /** Each provider's id and probe answer. */
  providers: Record<string, { id: string; available: boolean }>;
  /** `KeyStoreError.is` of the other module format recognises this one's errors. */
  crossFormat: boolean;
}

/**
 * The body shared by both JavaScript consumers; `load(spec)` and `loadJson(spec)` are defined by
 * each, with the module system under test.
 */
function body(entries: Entries, other: string): string {
  return `
const entries = ${JSON.stringify(entries)};
const report = { node: process.versions.node, exports: {}, json: {}, providers: {} };
for (const spec of entries.code) report.exports[spec] = Object.keys(await load(spec)).sort();
for (const spec of entries.json) report.json[spec] = Object.keys(loadJson(spec)).sort();

const { createKeyStore, KeyStoreError } = await load('@keystore/core');
const { createMemoryProvider } = await load('@keystore/core/testing');
const { keyStoreModule, memoryProviderModule, KeyStore } = await load('@keystore/core/di');
const policy = { minimumIsolation: 'none' };
const store = await createKeyStore({ providers: [createMemoryProvider()], policy });
try {
  const key = await store.createKey('pack-consumer', { algorithm: 'ECDSA-P256' });
  const message = Buffer.from('packed and installed');
  const signature = await key.sign(message);
  report.signed = crypto.verify('sha256', message, key.publicKey, signature);
  await store.deleteKey(key.ref);
  const err = await store.openKey('pack-consumer').then(() => undefined, (e) => e);
  report.notFound = KeyStoreError.is(err) ? err.code : String(err);
  // The same error seen by the other module format's copy of the package (the dual-package case).
  const { KeyStoreError: OtherKeyStoreError } = await ${other};
  report.crossFormat = OtherKeyStoreError !== KeyStoreError && OtherKeyStoreError.is(err, 'ERR_KEYSTORE_KEY_NOT_FOUND');
} finally {
  await store.close();
}

const { Container } = await import('inversify');
const container = new Container();
container.load(memoryProviderModule(), keyStoreModule({ policy }));
const diStore = await container.getAsync(KeyStore);
const diKey = await diStore.createKey('pack-di', { algorithm: 'ECDSA-P256' });
report.di = diKey.isolation.level === 'none';
await diStore.deleteKey(diKey.ref);
await container.unbindAllAsync();

for (const { name } of entries.providers) {
  const provider = (await load(name)).createProvider();
  const probe = await provider.probe();
  report.providers[name] = { id: provider.id, available: probe.available };
  await provider.close();
}
console.log(JSON.stringify(report));
`;
}

/** `consumer.mjs`: ESM, `import()` of every entry. */
export function esmConsumer(entries: Entries): string {
  return `import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
const load = (spec) => import(spec);
const loadJson = (spec) => JSON.parse(readFileSync(fileURLToPath(import.meta.resolve(spec)), 'utf8'));
${body(entries, "createRequire(import.meta.url)('@keystore/core')")}`;
}

/** `consumer.cjs`: CommonJS, `require()` of every entry (the DI entries load ESM-only inversify). */
export function cjsConsumer(entries: Entries): string {
  return `'use strict';
const crypto = require('node:crypto');
const load = async (spec) => require(spec);
const loadJson = (spec) => require(spec);
(async () => {
${body(entries, "import('@keystore/core')")}
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
`;
}

const identifier = (i: number) => `entry${i}`;

/** A typed use of the API, the same in every TypeScript consumer. */
function typedUse(di: string, testing: string, core: string): string {
  return `
export async function typedUse(): Promise<boolean> {
  const policy: ${core}.KeyStorePolicy = { minimumIsolation: 'none' };
  const store: ${core}.KeyStore = await ${core}.createKeyStore({ providers: [${testing}.createMemoryProvider()], policy });
  try {
    const key: ${core}.KeyStoreKey = await store.createKey('pack-ts', { algorithm: 'ECDSA-P256' });
    const signature: Buffer = await key.sign(Buffer.from('typed'));
    const level: ${core}.IsolationLevel = key.isolation.level;
    await store.deleteKey(key.ref);
    const err: unknown = await store.openKey('pack-ts').then(() => undefined, (e: unknown) => e);
    return signature.length > 0 && level === 'none' && ${core}.KeyStoreError.is(err, 'ERR_KEYSTORE_KEY_NOT_FOUND');
  } finally {
    await store.close();
  }
}

export async function typedDi(): Promise<boolean> {
  const { Container } = await import('inversify');
  const container = new Container();
  container.load(${di}.memoryProviderModule(), ${di}.keyStoreModule({ policy: { minimumIsolation: 'none' } }));
  const store = await container.getAsync<${di}.KeyStore>(${di}.KeyStore);
  const key = await store.createKey('pack-ts-di', { algorithm: 'ECDSA-P256' });
  await store.deleteKey(key.ref);
  await container.unbindAllAsync();
  return key.isolation.level === 'none';
}
`;
}

const compilerOptions = (module: string, moduleResolution: string, extra: Record<string, unknown> = {}) => ({
  module,
  moduleResolution,
  target: 'ES2022',
  lib: ['ES2022'],
  types: ['node'],
  strict: true,
  skipLibCheck: false,
  ...extra,
});

const mainLine = `
Promise.all([typedUse(), typedDi()]).then(
  (results) => console.log(JSON.stringify({ ok: results.every(Boolean), entries: modules.length })),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
`;

/**
 * Writes `ts-node16/` (consumer.mts and consumer.cts, emitted to out/) and `ts-bundler/`
 * (consumer.ts, no emit) under `app`. Returns their directories.
 */
export function writeTypeScriptConsumers(app: string, entries: Entries): { node16: string; bundler: string } {
  const index = (spec: string) => entries.code.indexOf(spec);
  const core = identifier(index('@keystore/core'));
  const testing = identifier(index('@keystore/core/testing'));
  const di = identifier(index('@keystore/core/di'));
  const modules = `const modules: object[] = [${entries.code.map((_, i) => identifier(i)).join(', ')}];\n`;

  const node16 = join(app, 'ts-node16');
  mkdirSync(node16, { recursive: true });
  writeFileSync(
    join(node16, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: compilerOptions('node16', 'node16', { outDir: 'out', rootDir: '.' }),
      files: ['consumer.mts', 'consumer.cts'],
    }),
  );
  const esmImports = entries.code.map((spec, i) => `import * as ${identifier(i)} from '${spec}';`).join('\n');
  writeFileSync(join(node16, 'consumer.mts'), `${esmImports}\n${modules}${typedUse(di, testing, core)}${mainLine}`);
  const cjsImports = entries.code.map((spec, i) => `import ${identifier(i)} = require('${spec}');`).join('\n');
  writeFileSync(join(node16, 'consumer.cts'), `${cjsImports}\n${modules}${typedUse(di, testing, core)}${mainLine}`);

  const bundler = join(app, 'ts-bundler');
  mkdirSync(bundler, { recursive: true });
  writeFileSync(
    join(bundler, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: compilerOptions('esnext', 'bundler', { noEmit: true }),
      files: ['consumer.ts'],
    }),
  );
  writeFileSync(join(bundler, 'consumer.ts'), `${esmImports}\n${modules}${typedUse(di, testing, core)}${mainLine}`);
  return { node16, bundler };
}
