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
  machinePolicyPath,
  type ResolvePolicyOptions,
  resolvePolicy,
} from './load.js';
export {
  type EffectivePolicyJson,
  mergePolicies,
  POLICY_FIELDS,
  type PolicyField,
  type PolicyRequest,
  policyToJson,
  requestViolations,
} from './merge.js';
export { POLICY_SCHEMA } from './schema.js';
export { parsePolicy, validatePolicy } from './validate.js';
