/**
 * Creating a TPM key, in its steps: preflight (the request, the profile, the name), act
 * (`Fapi_CreateKey`), verify (open the new key) and roll back (delete a key whose create was
 * cancelled or interrupted by close()), so that a create that does not succeed leaves no key.
 *
 * @module
 */

import { type KeyAlgorithm, KeyStoreError, type ProviderCreateRequest, throwIfAborted } from '@keystore/core';
import type { FapiSetup } from './config.js';
import type { TpmKey } from './key.js';
import { assertKeyName } from './names.js';
import { loadKey } from './open.js';
import { checkPassword, checkRequest, checkScope, closedError } from './options.js';
import { callOnOwnContext, type FapiRuntime, type Located } from './runtime.js';
import { Secret } from './secret.js';

/** What the preflight settled: where the key goes, its FAPI type and its password. */
interface CreatePlan {
  readonly located: Located;
  /** The FAPI key type, such as `sign,noDa`. */
  readonly type: string;
  readonly password: string | undefined;
}

/** Why this provider cannot create keys of an algorithm: the config has no profile, or the TPM refused it. */
function unsupportedAlgorithm(runtime: FapiRuntime, setup: FapiSetup, algorithm: KeyAlgorithm): KeyStoreError {
  const profileName = setup.profileFor.get(algorithm)?.name;
  const why = profileName ? runtime.unusable.get(profileName) : undefined;
  return new KeyStoreError(
    'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
    `the TPM provider cannot create ${String(algorithm)} keys ${why ? 'on this TPM' : 'with this FAPI config'}; supported: ${[
      ...runtime.profileFor().keys(),
    ].join(', ')}`,
    {
      providerId: 'tpm',
      hint:
        why ??
        'a config written by writeFapiConfig() offers ECDSA-P256, ECDSA-P384 and RSA-2048 (one profile each, with distinct SRK handles)',
    },
  );
}

/**
 * Why a create stopped once it had begun: the caller's signal (`ERR_KEYSTORE_CANCELLED`) or close()
 * (`ERR_KEYSTORE_PROVIDER_UNAVAILABLE`), and whether the key it made was deleted again.
 */
function stoppedError(callerSignal: AbortSignal | undefined, cause: unknown, deleted: boolean): KeyStoreError {
  return callerSignal?.aborted
    ? new KeyStoreError(
        'ERR_KEYSTORE_CANCELLED',
        `the operation was cancelled${deleted ? '; the new key was deleted' : ''}`,
        { providerId: 'tpm', cause },
      )
    : closedError(deleted ? 'during the create; the new key was deleted' : 'during the create', cause);
}

/** Preflight: checks the request, provisions the profiles, and settles where the key goes. No key is made. */
async function preflightCreate(runtime: FapiRuntime, request: ProviderCreateRequest): Promise<CreatePlan> {
  checkRequest(request, 'createKey');
  throwIfAborted(request.signal);
  assertKeyName(request.name);
  const scope = checkScope(request.scope);
  const password = checkPassword(request.password);
  const setup = runtime.setup();
  if (!runtime.profileFor().has(request.algorithm)) throw unsupportedAlgorithm(runtime, setup, request.algorithm);
  if (request.exportable) {
    throw new KeyStoreError('ERR_KEYSTORE_UNSUPPORTED_OPERATION', 'TPM keys cannot be created exportable', {
      providerId: 'tpm',
      hint: 'the private part of a TPM key never leaves the TPM; create it non-exportable',
    });
  }
  await runtime.ensureProvisioned(request.signal);
  // Provisioning may have found that this TPM cannot serve the algorithm's profile.
  const profile = runtime.profileFor().get(request.algorithm);
  if (!profile) throw unsupportedAlgorithm(runtime, setup, request.algorithm);
  const existing = runtime.locate(request.name);
  if (existing) {
    throw new KeyStoreError('ERR_KEYSTORE_KEY_EXISTS', `a TPM key "${request.name}" exists (${existing.scope} scope)`, {
      providerId: 'tpm',
      hint: 'key names are unique across scopes and algorithms in one FAPI keystore; open it, or delete it first',
    });
  }
  const located: Located = {
    profile,
    scope,
    path: profile === setup.defaultProfile ? `HS/SRK/${request.name}` : `/${profile.name}/HS/SRK/${request.name}`,
    objectFile: '',
  };
  const type = [
    profile.family === 'rsa' ? 'sign,decrypt' : 'sign',
    'noDa',
    ...(scope === 'machine' ? ['system'] : []),
  ].join(',');
  return { located, type, password };
}

/** Act: `Fapi_CreateKey`, which runs to its end once started; a failure after the stop says why it stopped. */
async function makeKey(
  runtime: FapiRuntime,
  request: ProviderCreateRequest,
  plan: CreatePlan,
  signal: AbortSignal,
): Promise<void> {
  try {
    await runtime.call(
      `create key "${request.name}" (${request.algorithm})`,
      (n, c) => n.createKey(c.handle, plan.located.path, plan.type, null, plan.password ?? ''),
      { timeoutMs: runtime.timeouts.create, signal, letFinish: true },
    );
  } catch (err) {
    // The create failed after the abort or close: no key was made; report why it stopped.
    if (signal.aborted) throw stoppedError(request.signal, err, false);
    throw err;
  }
}

/**
 * Roll back: deletes a key made by a create that was cancelled meanwhile (best effort). After close()
 * the pool is gone: the delete then runs on a context of its own, opened for it and finalized after it.
 */
async function discardCreated(runtime: FapiRuntime, located: Located, password: string | undefined): Promise<void> {
  if (runtime.closed) {
    try {
      const native = runtime.bindings();
      const context = await runtime.openOwnContext(runtime.timeouts.connect);
      context.password = password === undefined ? undefined : new Secret(password);
      context.authPath = password === undefined ? undefined : located.path;
      await callOnOwnContext(context, () => native.delete(context.handle, located.path), {
        timeoutMs: runtime.timeouts.operation,
        what: `delete the key at ${located.path} made by a create that close() interrupted`,
      });
    } catch {
      // Best effort, as below.
    }
    return;
  }
  try {
    await runtime.call(
      `delete the key at ${located.path} made by a cancelled create`,
      (n, c) => n.delete(c.handle, located.path),
      { password, keyPath: located.path },
    );
  } catch {
    // Best effort: a key left behind shows in listKeys() and can be deleted by name.
  }
}

/**
 * Creates a key. ECDSA keys are FAPI type `sign,noDa`; RSA keys `sign,decrypt,noDa` (they sign and
 * decrypt); `machine` scope adds `system` (the FAPI system keystore).
 */
export async function createTpmKey(runtime: FapiRuntime, request: ProviderCreateRequest): Promise<TpmKey> {
  const plan = await preflightCreate(runtime, request);
  // The signal cancels the create until Fapi_CreateKey starts; from then on the key is being made
  // and the call runs to its end: when the signal fired meanwhile, the new key is deleted again and
  // the create rejects with ERR_KEYSTORE_CANCELLED, so that a cancelled create leaves no key.
  // close() does the same (the create then rejects with ERR_KEYSTORE_PROVIDER_UNAVAILABLE).
  const signal = request.signal ? AbortSignal.any([request.signal, runtime.closing.signal]) : runtime.closing.signal;
  await makeKey(runtime, request, plan, signal);
  // Verify: open the new key (its public key and receipt), unless the create was stopped meanwhile.
  let key: TpmKey | undefined;
  let failure: unknown;
  if (!signal.aborted) {
    try {
      key = await loadKey(runtime, plan.located, request.name, plan.password);
    } catch (err) {
      failure = err;
    }
  }
  if (signal.aborted) {
    await key?.close();
    await discardCreated(runtime, plan.located, plan.password);
    throw stoppedError(request.signal, signal.reason, true);
  }
  if (key === undefined) throw failure;
  return key;
}
