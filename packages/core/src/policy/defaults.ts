/**
 * The built-in policy defaults.
 *
 * @module
 */
import { KEY_ALGORITHMS, KEY_SCOPES } from '../algorithms.js';
import type { ResolvedPolicy } from '../types.js';
import { deepFreeze } from './util.js';

/**
 * The built-in defaults, the weakest layer of every effective policy: isolation floor `os-isolated`,
 * every provider allowed, none denied or preferred, legacy CryptoAPI denied, no exportable keys,
 * every algorithm, RSA of at least 2048 bits, both scopes. Deeply frozen.
 *
 * @example
 * ```ts
 * import { DEFAULT_POLICY } from '@keystore/core';
 * DEFAULT_POLICY.minimumIsolation; // 'os-isolated'
 * ```
 * @since 0.1.0
 */
export const DEFAULT_POLICY: ResolvedPolicy = deepFreeze({
  minimumIsolation: 'os-isolated',
  providers: { allow: null, deny: [], prefer: [] },
  legacyCryptoApi: 'deny',
  exportable: { create: false, export: false },
  allowedAlgorithms: [...KEY_ALGORITHMS],
  minimumRsaBits: 2048,
  allowedScopes: [...KEY_SCOPES],
  pkcs11Modules: [],
});
