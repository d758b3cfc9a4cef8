import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@keystore\/core$/, replacement: src('./packages/core/src/index.ts') },
      { find: /^@keystore\/core\/di$/, replacement: src('./packages/core/src/di/index.ts') },
      { find: /^@keystore\/core\/testing$/, replacement: src('./packages/core/src/testing/index.ts') },
      { find: /^@keystore\/provider-tpm$/, replacement: src('./packages/provider-tpm/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'docs/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
