/**
 * Creating a TPM key, in its steps: preflight (the request, the profile, a claim on the name, the
 * name), act (`Fapi_CreateKey`), verify (open the new key) and roll back (delete a key whose create
 * was cancelled, interrupted by close(), or could not be opened), so that a create that rejects
 * leaves no key, and two creates of one name never both make one (see create-lock.ts).
 *
 * @module
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type KeyAlgorithm, KeyStoreError, type ProviderCreateRequest, throwIfAborted } from '@keystore/core';
import type { FapiSetup } from './config.js';
import { type CreateClaim, claimKeyName } from './create-lock.js';
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
  /** The claim on the name, held until the create and its rollback have ended. */
  readonly claim: CreateClaim;
}

/** What became of the key of a create that stopped: none was made, it was deleted, or it is left. */
type Leftover = 'none' | 'deleted' | 'left';

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
 * (`ERR_KEYSTORE_PROVIDER_UNAVAILABLE`), and what became of the key it made.
 */
function stoppedError(callerSignal: AbortSignal | undefined, cause: unknown, leftover: Leftover): KeyStoreError {
  const what =
    leftover === 'deleted'
      ? 'the new key was deleted'
      : leftover === 'left'
        ? 'the new key could not be deleted: listKeys() shows it, and it can be deleted by name'
        : '';
  return callerSignal?.aborted
    ? new KeyStoreError('ERR_KEYSTORE_CANCELLED', `the operation was cancelled${what ? `; ${what}` : ''}`, {
        providerId: 'tpm',
        cause,
      })
    : closedError(what ? `during the create; ${what}` : 'during the create', cause);
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
  // Claim the name before looking for it: a create that overlaps this one then either sees the
  // claim (and fails with KEY_EXISTS) or, once this one has made its key, the key itself.
  const root = scope === 'machine' ? setup.systemDir : setup.userDir;
  const claim = claimKeyName([setup.userDir, setup.systemDir], request.name);
  try {
    throwIfAborted(request.signal);
    const existing = runtime.locate(request.name);
    if (existing) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_KEY_EXISTS',
        `a TPM key "${request.name}" exists (${existing.scope} scope)`,
        {
          providerId: 'tpm',
          hint: 'key names are unique across scopes and algorithms in one FAPI keystore; open it, or delete it first',
        },
      );
    }
  } catch (err) {
    claim.release();
    throw err;
  }
  const located: Located = {
    profile,
    scope,
    path: profile === setup.defaultProfile ? `HS/SRK/${request.name}` : `/${profile.name}/HS/SRK/${request.name}`,
    objectFile: join(root, profile.name, 'HS', 'SRK', request.name, 'object.json'),
  };
  const type = [
    profile.family === 'rsa' ? 'sign,decrypt' : 'sign',
    'noDa',
    ...(scope === 'machine' ? ['system'] : []),
  ].join(',');
  return { located, type, password, claim };
}

/**
 * Act: `Fapi_CreateKey`, which runs to its end once started; a failure after the stop says why it
 * stopped. Resolves when the key exists, even if the call reported a failure after storing it.
 */
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
    // Fapi_CreateKey stores the key before its last steps: a TPM warning there, or a retry that
    // then finds the path taken, fails a call whose key exists. The name was free and is claimed,
    // so a key there now is this create's: it is verified and handed out, or rolled back, as if
    // the call had succeeded, never left behind by a create that rejects.
    if (existsSync(plan.located.objectFile)) return;
    // The create failed after the abort or close: no key was made; report why it stopped.
    if (signal.aborted) throw stoppedError(request.signal, err, 'none');
    throw err;
  }
}

/**
 * Roll back: deletes the key a create made and will not hand out (best effort), through the pool,
 * else (after close(), or when the pool refused) on a context of its own, opened for it and
 * finalized after it. Says whether the key is gone.
 */
async function discardCreated(runtime: FapiRuntime, located: Located, password: string | undefined): Promise<boolean> {
  if (!runtime.closed) {
    try {
      await runtime.call(
        `delete the key at ${located.path} made by a create that did not complete`,
        (n, c) => n.delete(c.handle, located.path),
        { password, keyPath: located.path },
      );
      return true;
    } catch {
      // The pool may have closed meanwhile, or its context failed: try once more on a context of its own.
    }
  }
  try {
    const native = runtime.bindings();
    const context = await runtime.openOwnContext(runtime.timeouts.connect);
    context.password = password === undefined ? undefined : new Secret(password);
    context.authPath = password === undefined ? undefined : located.path;
    const rc = await callOnOwnContext(context, () => native.delete(context.handle, located.path), {
      timeoutMs: runtime.timeouts.operation,
      what: `delete the key at ${located.path} made by a create that did not complete`,
    });
    if (rc === 0) return true;
  } catch {
    // Best effort: what is on disk says whether the key is left.
  }
  return !existsSync(located.objectFile);
}

/**
 * Creates a key. ECDSA keys are FAPI type `sign,noDa`; RSA keys `sign,decrypt,noDa` (they sign and
 * decrypt); `machine` scope adds `system` (the FAPI system keystore).
 *
 * A create that rejects leaves no key, with one exception said in its message: a key that could
 * not be deleted again (the TPM stopped answering). A create whose signal fires once its key is
 * made and opened, and whose key then cannot be deleted, resolves with the key rather than reject
 * and leave it. Two creates of one name never both succeed: the later one fails with
 * `ERR_KEYSTORE_KEY_EXISTS` while the first runs, and after it has made its key.
 */
export async function createTpmKey(runtime: FapiRuntime, request: ProviderCreateRequest): Promise<TpmKey> {
  const plan = await preflightCreate(runtime, request);
  try {
    return await createClaimed(runtime, request, plan);
  } finally {
    // Released only now: until the rollback has ended, the name is not free for another create.
    plan.claim.release();
  }
}

async function createClaimed(runtime: FapiRuntime, request: ProviderCreateRequest, plan: CreatePlan): Promise<TpmKey> {
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
  if (key !== undefined && !signal.aborted) return key;
  // Stopped, or the new key could not be opened: it is not handed out, so it must not stay.
  const gone = await discardCreated(runtime, plan.located, plan.password);
  if (!gone && key !== undefined && !runtime.closed) {
    // The key could not be deleted: hand it out rather than reject and leave a key behind.
    return key;
  }
  await key?.close();
  if (signal.aborted) throw stoppedError(request.signal, signal.reason, gone ? 'deleted' : 'left');
  throw failure;
}
