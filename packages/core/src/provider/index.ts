/**
 * `@keystore/core/provider`: the kit for writing a provider, ours or your own. Every provider in this
 * repository builds on it, and so does the key store in front of them, so that a request is judged by
 * one set of rules with one set of messages wherever it enters:
 *
 * - request checks: {@link checkRequest}, {@link checkKeyName}, {@link checkScope} /
 *   {@link checkProviderScope}, {@link checkSignal}, {@link checkPassword} / {@link checkNoPassword},
 *   {@link checkUserPrompt} (with {@link MAX_PROMPT_TEXT}) and {@link checkDigestLength};
 * - probe answers: {@link unavailableProbe} and {@link explainError};
 * - the policy's provider rules as structured reasons: {@link providerPolicyRefusals};
 * - {@link NativeFn}, the type of an FFI-loaded function, for a provider's `src/native/` layer.
 *
 * Each check throws a `KeyStoreError` (`ERR_KEYSTORE_INVALID_ARGUMENT`, `ERR_KEYSTORE_INVALID_NAME`
 * or `ERR_KEYSTORE_UNSUPPORTED_OPERATION`) carrying the `providerId` given. Test a provider with the
 * conformance suite of `@keystore/core/testing`. Guide: {@link "Writing a provider" | writing-a-provider}.
 *
 * @example
 * ```ts
 * import { throwIfAborted, type ProviderKeyRequest } from '@keystore/core';
 * import { checkKeyName, checkNoPassword, checkProviderScope, checkRequest, checkSignal } from '@keystore/core/provider';
 *
 * async function deleteKey(request: ProviderKeyRequest): Promise<void> {
 *   const r = checkRequest(request, 'deleteKey', 'vault');
 *   const signal = checkSignal(r.signal, 'vault');
 *   const name = checkKeyName(r.name, 'vault');
 *   const scope = checkProviderScope(r.scope, 'vault', ['user']);
 *   checkNoPassword(r.password, 'vault', { message: 'vault keys take no password', hint: 'omit it' });
 *   throwIfAborted(signal);
 *   // … delete `name` in `scope`
 * }
 * ```
 * @module @keystore/core/provider
 */

export type { ProviderPolicyReason } from '../policy-reasons.js';
export { providerPolicyRefusals } from '../policy-reasons.js';
export {
  checkDigestLength,
  checkKeyName,
  checkNoPassword,
  checkPassword,
  checkProviderScope,
  checkRequest,
  checkScope,
  checkSignal,
  checkUserPrompt,
  invalidArgument,
  MAX_KEY_NAME_LENGTH,
  MAX_PROMPT_TEXT,
} from './checks.js';
export type { NativeFn } from './native.js';
export { explainError, unavailableProbe } from './probe.js';
