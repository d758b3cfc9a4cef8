/**
 * `keystore migrate --from … --to …`: the move of one key, in steps: preflight (stores, policy, the
 * source key, whether the target takes it), export and import, reopen and verify, delete the source,
 * render the outcome.
 *
 * @module
 */
import {
  createKeyStore,
  formatKeyRef,
  isAtLeast,
  type KeyScope,
  type KeyStore,
  KeyStoreError,
  type KeyStoreKey,
  type KeyStorePolicy,
  type KeyStoreProvider,
  requestViolations,
  strongerIsolation,
} from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { describeError, errorLines } from '../errors.js';
import { EXIT_OK } from '../exit-codes.js';
import { json, line, write } from '../io.js';
import { describeReceipt } from './format.js';
import { blockedError, sourceBlockers, targetPolicy } from './migrate-policy.js';
import { closeAll, loadProviders, notInstalled, progress } from './migrate-providers.js';
import { type MoveCheck, proofFor, verifiedJson, verifyMove } from './migrate-verify.js';
import { appPolicy } from './store.js';

/** Where the key to move is: `--from`. */
export interface KeyLocation {
  readonly providerId: string;
  readonly name: string;
  readonly scope: KeyScope | undefined;
}

/** Where it goes: `--to`, with the source's name when `--to` gives none. */
export interface KeyTarget {
  readonly providerId: string;
  readonly name: string;
}

/** One move, as the steps below share it. */
interface Move {
  readonly ctx: CommandContext;
  readonly from: KeyLocation;
  readonly to: KeyTarget;
  readonly scope: KeyScope;
  readonly sourceRef: string;
  readonly say: (text: string) => void;
  readonly signal: AbortSignal | undefined;
  readonly opts: { signal?: AbortSignal };
  readonly allowWeak: boolean;
  readonly sourceProvider: KeyStoreProvider;
  readonly targetProvider: KeyStoreProvider;
  readonly sourceStore: KeyStore;
  readonly targetStore: KeyStore;
}

/** What the move has open, closed in its `finally` whatever happens. */
interface Held {
  readonly stores: KeyStore[];
  readonly keys: KeyStoreKey[];
}

/** The outcome of deleting the source: done, not asked for, or failed (with the failure). */
interface SourceDeletion {
  readonly sourceDeleted: boolean;
  readonly deleteFailure: ReturnType<typeof describeError> | undefined;
}

/** Moves `from` to `to`; the steps are the functions below, in order. */
export async function moveKey(ctx: CommandContext, from: KeyLocation, to: KeyTarget, scope: KeyScope): Promise<number> {
  const app = await appPolicy(ctx);
  const { providers, all } = await loadProviders(ctx, app);
  const held: Held = { stores: [], keys: [] };
  try {
    const sourceProvider = providers.find((p) => p.id === from.providerId);
    if (!sourceProvider) throw notInstalled(from.providerId, all, 'source');
    const targetProvider = providers.find((p) => p.id === to.providerId);
    if (!targetProvider) throw notInstalled(to.providerId, all, 'target');
    const move = await openStores(ctx, app, { from, to, scope, sourceProvider, targetProvider }, held);
    const sourceKey = await openSource(move, held);
    const exportable = await checkTarget(move, sourceKey);
    const newRef = await exportAndImport(move, sourceKey, exportable, held);
    const created = await reopen(move, newRef, held);
    const verified = await verifyCreated(move, sourceKey, created, newRef);
    const deletion = await deleteSource(move, sourceKey);
    return await render(move, sourceKey, created, verified, deletion);
  } finally {
    for (const key of held.keys) await key.close().catch(() => undefined);
    for (const store of held.stores) await store.close().catch(() => undefined);
    await closeAll(providers);
  }
}

/** Refuses a legacy target, and opens one store for the source and one (with the target floor) for the target. */
async function openStores(
  ctx: CommandContext,
  app: KeyStorePolicy | undefined,
  parts: Pick<Move, 'from' | 'to' | 'scope' | 'sourceProvider' | 'targetProvider'>,
  held: Held,
): Promise<Move> {
  const { from, to, scope, sourceProvider, targetProvider } = parts;
  const signal = ctx.io.signal;
  const opts = signal === undefined ? {} : { signal };
  if (targetProvider.capabilities.legacyCryptoApi) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_POLICY_VIOLATION',
      `the target ${to.providerId} is a legacy CryptoAPI provider: moving a key there gains nothing`,
      { providerId: to.providerId, hint: 'migrate into a provider that isolates keys, such as cng' },
    );
  }
  const sourceStore = await createKeyStore({
    providers: [sourceProvider],
    ...(app === undefined ? {} : { policy: app }),
    ...opts,
  });
  held.stores.push(sourceStore);
  const allowWeak = ctx.values['unsafe-allow-weak-target'] === true;
  const wanted = targetPolicy(app, allowWeak);
  const targetStore = await createKeyStore({
    providers: [targetProvider],
    ...(wanted === undefined ? {} : { policy: wanted }),
    ...opts,
  });
  held.stores.push(targetStore);
  const sourceRef = formatKeyRef({ providerId: from.providerId, scope, name: from.name });
  const say = progress(ctx);
  return { ...parts, ctx, sourceRef, say, signal, opts, allowWeak, sourceStore, targetStore };
}

/** Checks that the policy lets the source be read, opens it, and refuses a key that cannot be exported. */
async function openSource(move: Move, held: Held): Promise<KeyStoreKey> {
  const { from, to, scope, sourceRef, sourceStore, opts } = move;
  move.say(`checking that the policy lets ${sourceRef} be read…`);
  const sourceVerdict = (await sourceStore.explain({ provider: from.providerId, scope }, opts)).providers[0];
  if (sourceVerdict === undefined || !sourceVerdict.available) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
      `the source provider ${from.providerId} cannot serve here: ${sourceVerdict?.reasons.join('; ') ?? 'no answer'}`,
      { providerId: from.providerId, hint: "'keystore doctor' shows every provider and why" },
    );
  }
  const blockers = sourceBlockers(move.sourceProvider, sourceVerdict.isolation, sourceStore.policy);
  if (blockers.length > 0) throw blockedError(move.sourceProvider, sourceRef, blockers, sourceStore.policy);

  move.say(`opening ${sourceRef}…`);
  const sourceKey = await sourceStore.openKey(sourceRef, opts);
  held.keys.push(sourceKey);
  if (!sourceKey.exportable) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_NOT_EXPORTABLE',
      `${sourceRef} was created non-exportable: its private key cannot leave ${from.providerId}, so it cannot be moved`,
      {
        providerId: from.providerId,
        hint:
          `issue a new key instead (keystore keys create NAME --provider ${to.providerId} --algorithm ` +
          `${sourceKey.algorithm}) and re-enrol it (a new certificate or registration) wherever ${from.name} was used; ` +
          'then delete the legacy key',
      },
    );
  }
  return sourceKey;
}

/** Checks, before anything is exported, that the policy and the target take the new key; returns `--exportable`. */
async function checkTarget(move: Move, sourceKey: KeyStoreKey): Promise<boolean> {
  const { to, scope, targetStore } = move;
  const exportable = move.ctx.values.exportable === true;
  const violations = requestViolations(targetStore.policy, { algorithm: sourceKey.algorithm, scope, exportable });
  if (violations.length > 0) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_POLICY_VIOLATION',
      `the policy refuses the new key: ${violations.join('; ')}`,
      {
        providerId: to.providerId,
      },
    );
  }
  const explanation = await targetStore.explain(
    { provider: to.providerId, scope, algorithm: sourceKey.algorithm, exportable, importKey: true },
    move.opts,
  );
  if (explanation.selected !== to.providerId) {
    const reasons = explanation.providers.flatMap((v) => v.reasons);
    throw new KeyStoreError(
      'ERR_KEYSTORE_NO_PROVIDER',
      `${to.providerId} cannot take a ${sourceKey.algorithm} key in the ${scope} scope here: ${reasons.join('; ')}`,
      {
        providerId: to.providerId,
        refusals: explanation.providers.map((v) => ({ providerId: v.providerId, reasons: v.reasons })),
        hint: move.allowWeak
          ? "'keystore doctor' shows every provider and why it was refused"
          : `the new key must reach at least ${targetStore.policy.minimumIsolation}; 'keystore doctor' shows what ${to.providerId} reaches here`,
      },
    );
  }
  return exportable;
}

/** Exports the source's private key and imports it into the target; returns the new key's reference. */
async function exportAndImport(move: Move, sourceKey: KeyStoreKey, exportable: boolean, held: Held): Promise<string> {
  const { to, opts } = move;
  move.say(`exporting the private key of ${move.sourceRef}…`);
  const privateKey = await sourceKey.exportPrivateKey(opts);
  move.say(`importing it into ${to.providerId} as ${to.name}…`);
  const imported = await move.targetStore.importKey(to.name, privateKey, {
    provider: to.providerId,
    scope: move.scope,
    exportable,
    algorithm: sourceKey.algorithm,
    ...opts,
  });
  held.keys.push(imported);
  // What is verified is the key the target's store gives back when asked for it by reference, not the
  // handle importKey returned: a provider that did not keep the key would pass a check of the handle.
  await imported.close().catch(() => undefined);
  return imported.ref;
}

/**
 * Deletes the key a failed move left in the target (best effort, and also after an interruption) and
 * says what became of it, for the error message; `error` when it could not be deleted.
 */
async function removeNewKey(store: KeyStore, ref: string): Promise<{ text: string; error?: unknown }> {
  try {
    await store.deleteKey(ref);
    return { text: 'the new key was deleted' };
  } catch (error) {
    const report = describeError(error);
    if (report.code === 'ERR_KEYSTORE_KEY_NOT_FOUND')
      return { text: `${ref} is not in the store, so nothing was deleted` };
    return { text: `deleting the new key failed too (${report.message}), delete ${ref} by hand`, error };
  }
}

/** Opens the new key again from the target's store; when that fails, deletes it and says the source is unchanged. */
async function reopen(move: Move, newRef: string, held: Held): Promise<KeyStoreKey> {
  const { to } = move;
  move.say(`reopening ${newRef} from ${to.providerId}'s store…`);
  let created: KeyStoreKey;
  try {
    created = await move.targetStore.openKey(newRef, move.opts);
  } catch (error) {
    const cleanup = await removeNewKey(move.targetStore, newRef);
    if (describeError(error).code === 'ERR_KEYSTORE_CANCELLED') throw error;
    const cause = KeyStoreError.is(error) ? error : undefined;
    throw new KeyStoreError(
      'ERR_KEYSTORE_NATIVE_FAILURE',
      `the key imported into ${to.providerId} as ${newRef} could not be opened again from its store: ` +
        `${describeError(error).message}; ${cleanup.text}, and ${move.sourceRef} is unchanged`,
      {
        providerId: to.providerId,
        cause: error,
        ...(cause?.nativeStatus === undefined ? {} : { nativeStatus: cause.nativeStatus }),
        ...(cause?.nativeName === undefined ? {} : { nativeName: cause.nativeName }),
        hint: `${to.providerId} did not keep the key it imported; report this against the ${to.providerId} provider; the legacy key is still in use`,
      },
    );
  }
  held.keys.push(created);
  return created;
}

/** Verifies the reopened key against the source; when it fails, deletes it and says the source is unchanged. */
async function verifyCreated(
  move: Move,
  sourceKey: KeyStoreKey,
  created: KeyStoreKey,
  newRef: string,
): Promise<MoveCheck> {
  const { to } = move;
  move.say(`verifying ${created.ref} against the source's public key…`);
  let verified: MoveCheck;
  try {
    verified = await verifyMove(sourceKey, created, move.targetProvider, move.signal);
  } catch (error) {
    verified = {
      publicKeyMatches: false,
      proof: proofFor(created),
      proofHolds: false,
      problem: `the new key could not be used: ${describeError(error).message}`,
    };
  }
  if (verified.problem !== undefined) {
    await created.close().catch(() => undefined);
    const cleanup = await removeNewKey(move.targetStore, newRef);
    throw new KeyStoreError(
      'ERR_KEYSTORE_NATIVE_FAILURE',
      `the key imported into ${to.providerId} did not pass verification: ${verified.problem}; ${cleanup.text}` +
        `, and ${move.sourceRef} is unchanged`,
      {
        providerId: to.providerId,
        ...(cleanup.error === undefined ? {} : { cause: cleanup.error }),
        hint: `report this against the ${to.providerId} provider; the legacy key is still in use`,
      },
    );
  }
  return verified;
}

/** With `--delete-source`, deletes the source; a failure is reported after the move, not thrown (the move stands). */
async function deleteSource(move: Move, sourceKey: KeyStoreKey): Promise<SourceDeletion> {
  if (move.ctx.values['delete-source'] !== true) return { sourceDeleted: false, deleteFailure: undefined };
  move.say(`deleting ${move.sourceRef}…`);
  await sourceKey.close().catch(() => undefined);
  try {
    await move.sourceStore.deleteKey(move.sourceRef, move.opts);
    return { sourceDeleted: true, deleteFailure: undefined };
  } catch (error) {
    const deleteFailure = describeError(error);
    if (deleteFailure.code === 'ERR_INTERNAL' || deleteFailure.code === 'ERR_KEYSTORE_CANCELLED') throw error;
    return { sourceDeleted: false, deleteFailure };
  }
}

function keyJson(key: KeyStoreKey) {
  return {
    ref: key.ref,
    provider: key.providerId,
    name: key.name,
    scope: key.scope,
    algorithm: key.algorithm,
    exportable: key.exportable,
    isolation: key.isolation,
    publicKey: key.exportPublicKey('pem'),
  };
}

/** The `source:` line of the human output. */
function sourceLine(sourceRef: string, deletion: SourceDeletion): string {
  if (deletion.sourceDeleted) return `  source:     ${sourceRef} deleted`;
  if (deletion.deleteFailure !== undefined) return `  source:     ${sourceRef} kept: deleting it failed`;
  return `  source:     ${sourceRef} kept (move the apps over, then run again with --delete-source, or delete it with keystore keys delete)`;
}

/** Writes the outcome (JSON or lines), then the delete failure if any; returns the exit code. */
async function render(
  move: Move,
  sourceKey: KeyStoreKey,
  created: KeyStoreKey,
  verified: MoveCheck,
  deletion: SourceDeletion,
): Promise<number> {
  const { ctx, sourceRef } = move;
  const warnings: string[] = [];
  if (!isAtLeast(created.isolation.level, strongerIsolation(sourceKey.isolation.level, 'os-isolated'))) {
    warnings.push(
      `the new key's isolation (${created.isolation.level}) is no better than os-isolated or the source's ` +
        `(${sourceKey.isolation.level})`,
    );
  }
  const { sourceDeleted, deleteFailure } = deletion;
  if (ctx.json) {
    await json(ctx.io.stdout, {
      from: keyJson(sourceKey),
      to: keyJson(created),
      verified: verifiedJson(verified),
      sourceDeleted,
      ...(deleteFailure === undefined ? {} : { sourceDeleteError: deleteFailure.body }),
      warnings,
    });
  } else {
    const out = ctx.io.stdout;
    const proof =
      verified.proof === 'signature'
        ? "the new key's signature over a random challenge verifies with the source's public key"
        : "the new key's shared secret equals the one the source's public key gives";
    const exportable = created.exportable ? 'exportable' : 'not exportable';
    await line(out, `Moved ${sourceRef} to ${created.ref}`);
    await line(out, `  from:       ${sourceRef} (${sourceKey.algorithm}, isolation ${sourceKey.isolation.level})`);
    await line(out, `  to:         ${created.ref} (${created.algorithm}, ${exportable})`);
    for (const text of describeReceipt(created.isolation)) await line(out, text);
    await line(
      out,
      `  verified:   ${created.ref} reopened from ${move.to.providerId}'s store; the public keys are equal; ${proof}`,
    );
    await line(out, sourceLine(sourceRef, deletion));
    for (const warning of warnings) await line(out, `Warning: ${warning}.`);
  }
  if (deleteFailure !== undefined) {
    await write(ctx.io.stderr, errorLines(deleteFailure));
    return deleteFailure.exit;
  }
  return EXIT_OK;
}
