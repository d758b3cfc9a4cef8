/**
 * The policy engine: schema, defaults, validation, loading and merging.
 *
 * @module
 */
export { DEFAULT_POLICY } from './defaults.js';
export {
  type LoadMachinePolicyOptions,
  loadMachinePolicy,
  loadPolicyFile,
  MACHINE_POLICY_ENV,
  type MachinePolicyFiles,
  machinePolicyPath,
  type ResolvePolicyOptions,
  resolvePolicy,
} from './load.js';
export {
  type EffectivePolicyJson,
  type MergePoliciesOptions,
  mergePolicies,
  POLICY_FIELDS,
  type PolicyField,
  type PolicyRequest,
  policyToJson,
  requestViolations,
} from './merge.js';
export {
  type LoadRegistryPolicyOptions,
  loadRegistryPolicy,
  REGISTRY_POLICY_KEY,
  REGISTRY_POLICY_VALUES,
  REGISTRY_TIMEOUT_MS,
  type RegistryKeyContents,
  type RegistryPolicyValue,
  type RegistryReader,
  type RegistryValue,
  readRegistryKey,
} from './registry.js';
export { POLICY_SCHEMA } from './schema.js';
export { parsePolicy, validatePolicy } from './validate.js';
