import { rmSync } from 'node:fs';
import { defineConfig } from 'tsup';

// tsup builds the two configs below in parallel, so neither may clean dist/ (one would delete what
// the other wrote): it is emptied here, once, before both start.
rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true });

export default defineConfig([
  // ESM: the library and the binary in one build, so that the binary imports the library's chunks
  // (and the commands' lazily loaded chunks exist once) instead of carrying a copy of its own.
  {
    entry: { index: 'src/index.ts', bin: 'src/bin.ts' },
    format: ['esm'],
    dts: { entry: { index: 'src/index.ts' } },
    target: 'node20',
    splitting: true,
    external: [/^@keystore\//],
  },
  // CommonJS: the library, for require().
  {
    entry: { index: 'src/index.ts' },
    format: ['cjs'],
    dts: true,
    target: 'node20',
    external: [/^@keystore\//],
  },
]);
