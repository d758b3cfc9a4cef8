import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

const include = [
  'packages/*/test/**/*.test.ts',
  'test-support/test/**/*.test.ts',
  'examples/*/test/**/*.test.ts',
  'docs/test/**/*.test.ts',
];
// Tests that measure timing (event-loop delay) run alone, after the others, so that other test
// files competing for the CPU do not decide their outcome.
const serial = ['packages/*/test/**/*.serial.int.test.ts'];
// Tests of what the build produces, run by their own npm scripts after it: the documentation site in
// headless Chromium (`npm run test:site`, after `npm run docs`) and the packed tarballs installed
// into a project outside the workspace (`npm run test:pack`).
const site = ['test-support/test/**/*.site.test.ts'];
const pack = ['test-support/test/**/*.pack.test.ts'];

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@keystore\/core$/, replacement: src('./packages/core/src/index.ts') },
      { find: /^@keystore\/core\/di$/, replacement: src('./packages/core/src/di/index.ts') },
      { find: /^@keystore\/core\/testing$/, replacement: src('./packages/core/src/testing/index.ts') },
      { find: /^@keystore\/core\/provider$/, replacement: src('./packages/core/src/provider/index.ts') },
      { find: /^@keystore\/provider-tpm$/, replacement: src('./packages/provider-tpm/src/index.ts') },
      { find: /^@keystore\/provider-tpm\/module$/, replacement: src('./packages/provider-tpm/src/module.ts') },
      { find: /^@keystore\/provider-cng$/, replacement: src('./packages/provider-cng/src/index.ts') },
      { find: /^@keystore\/provider-cng\/module$/, replacement: src('./packages/provider-cng/src/module.ts') },
      { find: /^@keystore\/provider-cng\/native$/, replacement: src('./packages/provider-cng/src/native/index.ts') },
      {
        find: /^@keystore\/provider-cng\/certstore$/,
        replacement: src('./packages/provider-cng/src/certstore/index.ts'),
      },
      { find: /^@keystore\/provider-capi$/, replacement: src('./packages/provider-capi/src/index.ts') },
      { find: /^@keystore\/provider-capi\/module$/, replacement: src('./packages/provider-capi/src/module.ts') },
      { find: /^@keystore\/webcrypto$/, replacement: src('./packages/webcrypto/src/index.ts') },
      { find: /^@keystore\/x509$/, replacement: src('./packages/x509/src/index.ts') },
      { find: /^@keystore\/provider-pkcs11$/, replacement: src('./packages/provider-pkcs11/src/index.ts') },
      { find: /^@keystore\/provider-pkcs11\/module$/, replacement: src('./packages/provider-pkcs11/src/module.ts') },
    ],
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'main', include, exclude: [...serial, ...site, ...pack] } },
      { extends: true, test: { name: 'serial', include: serial, fileParallelism: false } },
      { extends: true, test: { name: 'site', include: site, fileParallelism: false } },
      { extends: true, test: { name: 'pack', include: pack, fileParallelism: false, testTimeout: 600_000 } },
    ],
  },
});
