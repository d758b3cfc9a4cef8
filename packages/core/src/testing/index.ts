/**
 * `@keystore/core/testing`: an in-memory provider for an app's own tests and for demos (isolation
 * `none`: keys live in JavaScript memory), the provider conformance suite every provider
 * package runs against itself, and (since 0.3.0) a seeded operation fuzzer over a key store
 * ({@link runOperationFuzz}). Loads no test runner: the suite takes the runner's functions.
 *
 * Guide: {@link "Testing: which suites ran where" | testing}.
 *
 * @example
 * ```ts
 * import { afterAll, beforeAll, describe, it } from 'vitest';
 * import { createMemoryProvider, defineProviderConformanceSuite } from '@keystore/core/testing';
 *
 * defineProviderConformanceSuite({
 *   name: 'memory',
 *   createProvider: () => createMemoryProvider(),
 *   test: { describe, it, beforeAll, afterAll },
 * });
 * ```
 * @module @keystore/core/testing
 */

export type { ConformanceCapability, ConformanceOptions, ConformanceTestApi } from './conformance.js';
export { defineProviderConformanceSuite } from './conformance.js';
export { runOperationFuzz } from './fuzz.js';
export type { FuzzOperationKind, FuzzPlanOptions, FuzzStep } from './fuzz-plan.js';
export { DEFAULT_FUZZ_WEIGHTS, describeFuzzStep, planFuzzSteps, seededRandom } from './fuzz-plan.js';
export type { FuzzFailure, FuzzFailureKind, FuzzReport, OperationFuzzOptions } from './fuzz-report.js';
export { formatFuzzFailures, formatFuzzReport } from './fuzz-report.js';
export type { MemoryProviderOptions } from './memory-provider.js';
export { createMemoryProvider, MemoryKeyVault, MemoryProvider } from './memory-provider.js';
export type { ResolveTestPolicyOptions, TestKeyStoreOptions, TestPolicySources } from './policy.js';
export { createTestKeyStore, resolveTestPolicy, TEST_POLICY_SOURCES } from './policy.js';
