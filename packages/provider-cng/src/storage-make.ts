/**
 * Making one new key in an NCrypt key storage provider, in its steps: create the handle
 * (`NCryptCreatePersistedKey`, or `NCryptImportKey` unfinalized), apply its properties (length,
 * export policy, usage, UI policy), finalize it and take its receipt, and roll back (delete a key that
 * was finalized but is not handed out). A make that rejects leaves no key, or says that it may.
 *
 * @module
 */
import { algorithmInfo, type IsolationReceipt, KeyStoreError, throwIfAborted } from '@keystore/core';
import type { NCryptKey } from './key.js';
import { ncryptAlgorithmId } from './names.js';
import {
  NCRYPT_ALLOW_EXPORT_FLAG,
  NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG,
  NCRYPT_DO_NOT_FINALIZE_FLAG,
  NCRYPT_EXPORT_POLICY_PROPERTY,
  NCRYPT_KEY_USAGE_PROPERTY,
  NCRYPT_LENGTH_PROPERTY,
  NCRYPT_MACHINE_KEY_FLAG,
  NCRYPT_PERSIST_FLAG,
  NCRYPT_UI_FORCE_HIGH_PROTECTION_FLAG,
  NCRYPT_UI_PROTECT_KEY_FLAG,
  NCRYPT_USE_VIRTUAL_ISOLATION_FLAG,
} from './native/constants.js';
import type { NCryptBindings, NCryptKeyHandle, NCryptProvHandle } from './native/types.js';
import type { IsolationPosture } from './posture.js';
import {
  type CheckedCreate,
  mapCreateError,
  NO_ERROR,
  nativeOf,
  type Pending,
  releaseHandles,
  type StorageIdentity,
  storageError,
} from './storage-errors.js';
import { checkVirtualIsolation, type KeyFacts, keyUsage, readPublicKey, receiptOf } from './storage-keys.js';

/** The way one new key is made: generated, or imported from a blob. */
export type Make =
  | { readonly kind: 'generate' }
  | { readonly kind: 'import'; readonly blobType: string; readonly blob: Buffer };

/** What a make needs from the storage. */
export interface MakeContext {
  readonly who: StorageIdentity;
  readonly ncrypt: NCryptBindings;
  readonly posture: IsolationPosture;
  /** Whether the key must be a VBS key (`NCRYPT_USE_VIRTUAL_ISOLATION_FLAG`). */
  readonly vbs: boolean;
  /** Makes the key object over the handles, which it then owns. */
  readonly handOut: (facts: KeyFacts, key: NCryptKeyHandle, prov: NCryptProvHandle) => NCryptKey;
}

/** The handles of a make in progress, and whether its key was persisted. */
interface Progress {
  prov?: NCryptProvHandle;
  key?: NCryptKeyHandle;
  finalized: boolean;
}

/** Runs one named native step: cancelled before it starts, its failure mapped to a typed error. */
type Step = <T>(name: string, fn: () => T | Promise<T>) => Promise<T>;

/** Create the handle: a persisted key to generate, or an unfinalized import of the blob. */
async function createHandle(
  ctx: MakeContext,
  req: CheckedCreate,
  make: Make,
  progress: Progress,
  step: Step,
): Promise<NCryptKeyHandle> {
  const { ncrypt } = ctx;
  const scopeFlag = req.scope === 'machine' ? NCRYPT_MACHINE_KEY_FLAG : 0;
  const prov = await step('NCryptOpenStorageProvider', () => ncrypt.openStorageProvider(ctx.who.storageProvider));
  progress.prov = prov;
  if (make.kind === 'generate') {
    const flags = scopeFlag | (ctx.vbs ? NCRYPT_USE_VIRTUAL_ISOLATION_FLAG : 0);
    progress.key = await step('NCryptCreatePersistedKey', () =>
      ncrypt.createPersistedKey(prov, ncryptAlgorithmId(req.algorithm), req.name, 0, flags),
    );
  } else {
    progress.key = await step('NCryptImportKey', () =>
      ncrypt.importKey(prov, make.blobType, make.blob, req.name, scopeFlag | NCRYPT_DO_NOT_FINALIZE_FLAG),
    );
  }
  return progress.key;
}

/** Apply the properties: `Length` (RSA, generated), `Export Policy`, `Key Usage` and the UI policy. */
async function applyProperties(
  ctx: MakeContext,
  req: CheckedCreate,
  make: Make,
  key: NCryptKeyHandle,
  step: Step,
): Promise<void> {
  const { ncrypt } = ctx;
  const info = algorithmInfo(req.algorithm);
  if (info.family === 'rsa' && make.kind === 'generate') {
    await step('Length', () => ncrypt.setProperty(key, NCRYPT_LENGTH_PROPERTY, info.bits));
  }
  const exportPolicy = req.exportable ? NCRYPT_ALLOW_EXPORT_FLAG | NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG : 0;
  // Stored with the key material (NCRYPT_PERSIST_FLAG), as .NET's CngKey does: the policy must
  // hold for every later open, not only for this handle. `Length` is a generation parameter.
  await step('Export Policy', () =>
    ncrypt.setProperty(key, NCRYPT_EXPORT_POLICY_PROPERTY, exportPolicy, NCRYPT_PERSIST_FLAG),
  );
  await step('Key Usage', () =>
    ncrypt.setProperty(key, NCRYPT_KEY_USAGE_PROPERTY, keyUsage(req.algorithm), NCRYPT_PERSIST_FLAG),
  );
  const prompt = req.userPrompt;
  if (prompt !== undefined) {
    await step('UI Policy', () =>
      ncrypt.setUiPolicy(key, {
        flags: NCRYPT_UI_PROTECT_KEY_FLAG | (prompt.forceHighProtection ? NCRYPT_UI_FORCE_HIGH_PROTECTION_FLAG : 0),
        ...(prompt.friendlyName === undefined ? {} : { friendlyName: prompt.friendlyName }),
        ...(prompt.description === undefined ? {} : { description: prompt.description }),
      }),
    );
  }
}

/** Finalize the key (it is persisted from here on) and take its receipt and public key. */
async function finalizeWithReceipt(
  ctx: MakeContext,
  req: CheckedCreate,
  make: Make,
  progress: Progress,
  key: NCryptKeyHandle,
  step: Step,
): Promise<KeyFacts> {
  const { ncrypt, posture, who } = ctx;
  // The last point where a cancellation leaves nothing behind: the key is persisted at finalize.
  await step('NCryptFinalizeKey', () => ncrypt.finalizeKey(key, 0));
  progress.finalized = true;
  throwIfAborted(req.signal);
  let receipt: IsolationReceipt;
  if (ctx.vbs) {
    receipt = receiptOf(who, 'virtualization', [checkVirtualIsolation(who, ncrypt, key, req), ...posture.evidence]);
  } else {
    const made =
      make.kind === 'generate'
        ? `the key was generated by ${who.storageProvider}`
        : `the key was imported into ${who.storageProvider} from this process: copies made before the import are outside its protection`;
    receipt = receiptOf(who, posture.level, [...posture.evidence, made]);
  }
  const publicKey = readPublicKey(who, ncrypt, key, req.algorithm);
  throwIfAborted(req.signal);
  const { name, algorithm, scope, exportable } = req;
  return { name, algorithm, scope, exportable, isolation: receipt, publicKey };
}

/** What became of the key of a make that failed, for its message. */
function leftover(finalized: boolean, cleanup: unknown): string {
  if (!finalized) return 'no key was made';
  if (cleanup === undefined) return 'the new key was deleted';
  return `deleting the new key failed (${cleanup instanceof Error ? cleanup.message : String(cleanup)}), so it may remain`;
}

/**
 * Roll back: deletes a key that was finalized, and returns the error to throw, which says what
 * became of the key (cancelled, or failed after finalize); other errors as they are.
 */
async function rollBack(ctx: MakeContext, req: CheckedCreate, progress: Progress, err: unknown): Promise<unknown> {
  let cleanup: unknown;
  if (progress.finalized && progress.key !== undefined) {
    try {
      await ctx.ncrypt.deleteKey(progress.key, 0);
      progress.key = undefined; // NCryptDeleteKey freed the handle.
    } catch (e) {
      cleanup = e;
    }
  }
  const removed = leftover(progress.finalized, cleanup);
  const signal = req.signal;
  if (signal?.aborted) {
    return storageError(ctx.who, 'ERR_KEYSTORE_CANCELLED', `the operation was cancelled; ${removed}`, {
      cause: KeyStoreError.is(err, 'ERR_KEYSTORE_CANCELLED') ? signal.reason : err,
    });
  }
  if (progress.finalized && KeyStoreError.is(err)) {
    return new KeyStoreError(err.code, `${err.message}; ${removed}`, {
      providerId: ctx.who.id,
      cause: err,
      ...nativeOf(err),
      ...(err.hint === undefined ? {} : { hint: err.hint }),
    });
  }
  return err;
}

/**
 * Makes a key: create the handle, apply its properties, finalize it with its receipt, and hand it
 * out; on any failure roll back, and free the handles without hiding the error in flight.
 */
export async function makeKey(ctx: MakeContext, req: CheckedCreate, make: Make): Promise<NCryptKey> {
  const progress: Progress = { finalized: false };
  let handedOver = false;
  let pending: Pending = NO_ERROR;
  const step: Step = async (name, fn) => {
    throwIfAborted(req.signal);
    try {
      return await fn();
    } catch (err) {
      throw mapCreateError(ctx.who, err, req, ctx.vbs, name);
    }
  };
  try {
    const key = await createHandle(ctx, req, make, progress, step);
    await applyProperties(ctx, req, make, key, step);
    const facts = await finalizeWithReceipt(ctx, req, make, progress, key, step);
    const result = ctx.handOut(facts, key, progress.prov!);
    handedOver = true;
    return result;
  } catch (err) {
    // What is thrown is also what the release in `finally` keeps if a free fails.
    pending = await rollBack(ctx, req, progress, err);
    throw pending;
  } finally {
    if (!handedOver) releaseHandles(ctx.who, ctx.ncrypt, [progress.key, progress.prov], pending);
  }
}
