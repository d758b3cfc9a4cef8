import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'di/index': 'src/di/index.ts',
    'testing/index': 'src/testing/index.ts',
    'provider/index': 'src/provider/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
  external: ['inversify', 'reflect-metadata'],
});
