// Every complete TypeScript or JavaScript snippet in the documentation compiles against the current
// API (JavaScript ones type-checked with checkJs, as `.mjs` files). A snippet is complete when its
// first line is an `import`; others are fragments of a larger program (they continue a snippet above
// them) and are not compiled on their own. Complete snippets may use the few names every page
// assumes, declared in PRELUDE below.
// Every page whose snippets use `await using` says what that needs and shows the same program with
// `try`/`finally` beside it, which closes the store: plain JavaScript on Node.js 20.20 and 22.22 cannot
// parse `await using` (docs/getting-started.md, "What `await using` needs").
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function markdownFiles(): string[] {
  const files = [
    'README.md',
    'packages/core/README.md',
    'packages/cli/README.md',
    'packages/provider-tpm/README.md',
    'packages/provider-cng/README.md',
    'packages/provider-capi/README.md',
    'packages/provider-pkcs11/README.md',
  ];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name !== 'api' && entry.name !== 'test') walk(join(dir, entry.name));
      else if (entry.name.endsWith('.md')) files.push(join(dir, entry.name));
    }
  };
  walk('docs');
  return files.filter((f) => {
    try {
      readFileSync(join(root, f));
      return true;
    } catch {
      return false;
    }
  });
}

const PRELUDE = `import type { KeyStore, KeyStoreProvider } from '@keystore/core';
import type { Container } from 'inversify';
declare global {
  /** A key store, as created by createKeyStore. */
  const store: KeyStore;
  /** An inversify container. */
  const container: Container;
  /** Providers, as created by their packages' factories. */
  const tpm: KeyStoreProvider;
  const cng: KeyStoreProvider;
}
export {};
`;

interface Snippet {
  file: string;
  line: number;
  code: string;
  lang: 'ts' | 'js';
}

function snippets(): Snippet[] {
  const out: Snippet[] = [];
  for (const file of markdownFiles()) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const fence = /^```(ts|typescript|js|javascript)\s*$/.exec(lines[i] ?? '');
      if (!fence) continue;
      const start = i + 1;
      let end = start;
      while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++;
      const code = lines.slice(start, end).join('\n');
      const lang = fence[1]?.startsWith('j') ? 'js' : 'ts';
      if (/^import\s/.test(code)) out.push({ file, line: start + 1, code, lang });
      i = end;
    }
  }
  return out;
}

describe('documentation snippets', () => {
  const all = snippets();

  it('there are complete snippets to check', () => {
    expect(all.length).toBeGreaterThan(5);
    expect(all.some((s) => s.lang === 'js')).toBe(true);
  });

  it('every page with an `await using` snippet says what it needs and shows the try/finally form', () => {
    const usesAwaitUsing = (code: string) => /\bawait\s+using\b/.test(code);
    // The try/finally form: no `await using`, and the store is closed in a `finally` block.
    const tryFinally = (code: string) =>
      !usesAwaitUsing(code) && /\btry\s*\{/.test(code) && /finally\s*\{[^}]*await store\.close\(\)/.test(code);
    const pages = [...new Set(all.filter((s) => usesAwaitUsing(s.code)).map((s) => s.file))];
    expect(pages.length).toBeGreaterThan(3);
    const problems: string[] = [];
    for (const file of pages) {
      const text = readFileSync(join(root, file), 'utf8');
      if (!all.some((s) => s.file === file && tryFinally(s.code))) {
        problems.push(`${file}: uses \`await using\` but shows no try { … } finally { await store.close() } form`);
      }
      if (!/TypeScript 5\.2 or newer/.test(text))
        problems.push(`${file}: does not say that \`await using\` needs TypeScript 5.2`);
      if (file !== 'docs/getting-started.md' && !/getting-started\.md#what-await-using-needs\)/.test(text)) {
        problems.push(`${file}: does not link to getting-started.md#what-await-using-needs`);
      }
    }
    expect(problems).toEqual([]);
    // The section the pages link to is there, under the heading that makes that anchor.
    expect(readFileSync(join(root, 'docs/getting-started.md'), 'utf8')).toMatch(/^## What `await using` needs$/m);
  });

  it('every complete TypeScript and JavaScript snippet compiles (tsc --noEmit, strict, checkJs)', () => {
    const dir = join(root, '.tmp/snippets');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const names: string[] = [];
    all.forEach((s, n) => {
      const name = `${s.file.replace(/[^A-Za-z0-9]+/g, '_')}_L${s.line}_${n}.${s.lang === 'js' ? 'mjs' : 'mts'}`;
      names.push(name);
      // `export {}` makes each snippet its own module, so top-level await and names don't clash.
      writeFileSync(join(dir, name), `${s.code}\nexport {};\n`);
    });
    writeFileSync(join(dir, 'prelude.d.mts'), PRELUDE);
    names.push('prelude.d.mts');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: relative(dir, join(root, 'tsconfig.json')),
        compilerOptions: {
          noEmit: true,
          noUnusedLocals: false,
          target: 'ES2022',
          module: 'NodeNext',
          allowJs: true,
          checkJs: true,
        },
        include: names,
      }),
    );
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      encoding: 'utf8',
    });
    // Map each error back to its markdown file and line for a useful failure message.
    const report = (tsc.stdout + tsc.stderr).replace(/(\S+?)_L(\d+)_\d+\.m[tj]s\((\d+),(\d+)\)/g, (_, f, l, r) => {
      const s = all.find((x) => `${x.file.replace(/[^A-Za-z0-9]+/g, '_')}` === f && x.line === Number(l));
      return s ? `${s.file}:${s.line + Number(r) - 1}` : `${f}:${l}`;
    });
    expect(report).toBe('');
    expect(tsc.status).toBe(0);
  }, 120_000);
});
