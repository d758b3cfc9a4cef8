/**
 * The Windows machine policy file: where it is (never from the environment) and whether its owner
 * and DACL let only administrators write it.
 *
 * Boundary: this module is being built; until it is, `windowsPolicyFilePath` answers the documented
 * default and `checkWindowsPolicyFile` refuses nothing, and docs/security.md says so.
 *
 * @module
 */

/**
 * Options of the Windows policy-file functions.
 *
 * @internal
 */
export interface WindowsPolicyFileOptions {
  /** Cancels the check. */
  readonly signal?: AbortSignal;
}

/**
 * The path of `%ProgramData%\keystore\policy.json`, resolved without reading the environment.
 *
 * @internal
 */
export async function windowsPolicyFilePath(_options: WindowsPolicyFileOptions = {}): Promise<string> {
  return 'C:\\ProgramData\\keystore\\policy.json';
}

/**
 * Refuses (with `ERR_KEYSTORE_INVALID_POLICY`) a policy file that a non-administrator can write.
 *
 * @internal
 */
export async function checkWindowsPolicyFile(_path: string, _options: WindowsPolicyFileOptions = {}): Promise<void> {}
