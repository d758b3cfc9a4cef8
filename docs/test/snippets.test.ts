// Every complete TypeScript snippet in the documentation compiles against the current API.
// A snippet is complete when its first line is an `import`; others are fragments of a larger
// program (they continue a snippet above them) and are not compiled on their own. Complete
// snippets may use the few names every page assumes, declared in PRELUDE below.
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
}

function snippets(): Snippet[] {
  const out: Snippet[] = [];
  for (const file of markdownFiles()) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!/^```(ts|typescript)\s*$/.test(lines[i] ?? '')) continue;
      const start = i + 1;
      let end = start;
      while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++;
      const code = lines.slice(start, end).join('\n');
      if (/^import\s/.test(code)) out.push({ file, line: start + 1, code });
      i = end;
    }
  }
  return out;
}

describe('documentation snippets', () => {
  const all = snippets();

  it('there are complete snippets to check', () => {
    expect(all.length).toBeGreaterThan(5);
  });

  it('every complete TypeScript snippet compiles (tsc --noEmit, strict)', () => {
    const dir = join(root, '.tmp/snippets');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const names: string[] = [];
    all.forEach((s, n) => {
      const name = `${s.file.replace(/[^A-Za-z0-9]+/g, '_')}_L${s.line}_${n}.mts`;
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
        compilerOptions: { noEmit: true, noUnusedLocals: false, target: 'ES2022', module: 'NodeNext' },
        include: names,
      }),
    );
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      encoding: 'utf8',
    });
    // Map each error back to its markdown file and line for a useful failure message.
    const report = (tsc.stdout + tsc.stderr).replace(/(\S+?)_L(\d+)_\d+\.mts\((\d+),(\d+)\)/g, (_, f, l, r) => {
      const s = all.find((x) => `${x.file.replace(/[^A-Za-z0-9]+/g, '_')}` === f && x.line === Number(l));
      return s ? `${s.file}:${s.line + Number(r) - 1}` : `${f}:${l}`;
    });
    expect(report).toBe('');
    expect(tsc.status).toBe(0);
  }, 120_000);
});
