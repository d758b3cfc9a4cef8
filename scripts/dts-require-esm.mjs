// Run by a package's build after tsup, from the package's directory: in its CommonJS declaration
// files (dist/**/*.d.cts), every import from an ES-module-only package (inversify 8), or from one
// whose declarations TypeScript reads as an ES module's (koffi 3), becomes a type import with
// `with { 'resolution-mode': 'import' }`.
//
// Why: TypeScript checks a .d.cts as a CommonJS file. Under `module: node16` or `node18` a plain
// import of an ES module there is error TS1479 ("… cannot be imported with 'require'"), reported
// to every app that compiles without skipLibCheck, although Node.js itself loads the module with
// require() since 20.19 and 22.12 (and TypeScript ≥ 5.8 accepts it under `nodenext`). A type
// import with that attribute is valid under every `module` setting from TypeScript 5.3 on.
//
// A form it cannot rewrite (a side-effect import or a re-export of such a package) fails the build.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const pkgDir = process.cwd();
const dist = join(pkgDir, 'dist');
const require = createRequire(join(pkgDir, 'package.json'));

/** Whether Node.js loads `file` as an ES module: by its extension, else by the nearest package.json. */
function isEsmFile(file) {
  if (file.endsWith('.mjs')) return true;
  if (file.endsWith('.cjs')) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    try {
      return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).type === 'module';
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    if (dirname(dir) === dir) return false;
  }
}

const esmOnly = new Map();
/** Whether the bare specifier `spec` resolves, with require(), to an ES module. */
function isEsmOnly(spec) {
  if (!esmOnly.has(spec)) {
    let esm;
    try {
      esm = isEsmFile(require.resolve(spec));
    } catch (err) {
      // Exported for `import` only: what TypeScript finds for it is an ES module too.
      if (err.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw err;
      esm = true;
    }
    esmOnly.set(spec, esm || typesAreEsm(spec));
  }
  return esmOnly.get(spec);
}

/**
 * Whether TypeScript sees the declarations of `spec` as an ES module even where Node.js requires a
 * CommonJS file: a package with `"type": "module"` whose `exports` give `require` its own `.cjs`
 * but one `.d.ts` for both conditions (koffi 3) — a `.d.ts` in such a package is an ES module's.
 */
function typesAreEsm(spec) {
  const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
  const subpath = spec === name ? '.' : `.${spec.slice(name.length)}`;
  let dir;
  try {
    dir = dirname(require.resolve(spec));
  } catch {
    return false;
  }
  for (; ; dir = dirname(dir)) {
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    if (manifest?.name === name) {
      const entry = typeof manifest.exports === 'object' ? manifest.exports[subpath] : undefined;
      const types =
        (typeof entry?.require === 'object' ? entry.require.types : undefined) ?? entry?.types ?? manifest.types;
      if (typeof types !== 'string') return false;
      if (types.endsWith('.d.mts')) return true;
      return types.endsWith('.d.ts') && manifest.type === 'module';
    }
    if (dirname(dir) === dir) return false;
  }
}

const bare = (spec) => !spec.startsWith('.') && !spec.startsWith('/') && !spec.startsWith('node:');

function* declarationFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* declarationFiles(path);
    else if (entry.name.endsWith('.d.cts')) yield path;
  }
}

let rewritten = 0;
for (const file of declarationFiles(dist)) {
  const text = readFileSync(file, 'utf8');
  const out = text.replace(
    /^(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s+(['"])([^'"]+)\4\s*(with\s*\{[^}]*\}\s*)?;/gm,
    (statement, keyword, _type, clause, quote, spec, attributes) => {
      if (!bare(spec) || !isEsmOnly(spec) || attributes) return statement;
      if (keyword === 'export') {
        throw new Error(`${file}: re-export from the ES module ${spec} in a .d.cts: rewrite it by hand`);
      }
      rewritten++;
      return `import type ${clause} from ${quote}${spec}${quote} with { 'resolution-mode': 'import' };`;
    },
  );
  for (const [, spec] of out.matchAll(/^import\s+['"]([^'"]+)['"];/gm)) {
    if (bare(spec) && isEsmOnly(spec)) {
      throw new Error(`${file}: side-effect import of the ES module ${spec} in a .d.cts`);
    }
  }
  if (out !== text) writeFileSync(file, out);
}
console.log(`dts-require-esm: ${rewritten} import(s) of ES modules in ${resolve(dist)}/**/*.d.cts made type imports`);
