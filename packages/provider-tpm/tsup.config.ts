import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', module: 'src/module.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  shims: true,
  target: 'node20',
  splitting: true,
  external: [/^@keystore\//, 'koffi', 'inversify'],
  // The CommonJS build has no import.meta.resolve (src/windows.ts then loads the CommonJS entry).
  esbuildOptions(options, { format }) {
    if (format === 'cjs') options.define = { ...options.define, 'import.meta.resolve': 'undefined' };
  },
});
