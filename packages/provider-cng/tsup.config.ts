import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    module: 'src/module.ts',
    native: 'src/native/index.ts',
    certstore: 'src/certstore/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  shims: true,
  target: 'node20',
  splitting: true,
  external: [/^@keystore\//, 'koffi', 'inversify'],
});
