/**
 * The key store's check of what a provider hands back, before the app sees it.
 *
 * @module
 */
import { KeyObject } from 'node:crypto';
import { isKeyAlgorithm, type KeyAlgorithm, type KeyScope } from './algorithms.js';
import { KeyStoreError } from './errors.js';
import { type IsolationLevel, isAtLeast } from './isolation.js';
import { decision, receiptLevel } from './keystore-audit.js';
import { formatKeyRef } from './ref.js';
import type { KeyStoreProvider, ProviderKey } from './types.js';

/** What a refused key became, for the refusal's message. */
function refusalMessage(problem: string, made: boolean, cleanup: unknown, malformed: boolean): string {
  if (!made) return `${problem}; it may not be used${malformed ? '' : ' under this policy'}`;
  if (cleanup === undefined) return `${problem}; the key was deleted`;
  return `${problem}; deleting it failed, so it may remain in the provider`;
}

const PAST_TENSE = { create: 'created', import: 'imported', open: 'opened' } as const;

/**
 * Checks what a provider handed back: a well-formed key (the algorithm asked for, when creating or
 * importing; the public key of the key given, when importing) whose receipt meets the floor.
 * Otherwise closes it, deletes it when it was just created or imported, and throws:
 * `ERR_KEYSTORE_POLICY_VIOLATION` below the floor, `ERR_KEYSTORE_NATIVE_FAILURE` when malformed.
 */
export async function verifyProviderKey(
  floor: IsolationLevel,
  inner: ProviderKey,
  provider: KeyStoreProvider,
  target: { name: string; scope: KeyScope; algorithm?: KeyAlgorithm; publicKey?: KeyObject },
  action: 'create' | 'import' | 'open',
): Promise<void> {
  const made = action !== 'open';
  const verb = PAST_TENSE[action];
  let problem: string | undefined;
  let malformed = false;
  if (
    typeof inner !== 'object' ||
    inner === null ||
    !isKeyAlgorithm(inner.algorithm) ||
    (target.algorithm !== undefined && inner.algorithm !== target.algorithm) ||
    !(inner.publicKey instanceof KeyObject) ||
    inner.publicKey.type !== 'public' ||
    typeof inner.signDigest !== 'function' ||
    typeof inner.close !== 'function'
  ) {
    malformed = true;
    problem = `the ${provider.id} provider returned a key object that does not match the request`;
  } else if (target.publicKey !== undefined && !inner.publicKey.equals(target.publicKey)) {
    malformed = true;
    problem = `the ${provider.id} provider imported a key whose public key is not the one of the key given`;
  } else {
    const level = receiptLevel(inner);
    if (level !== null && isAtLeast(level, floor)) return;
    problem =
      `the ${provider.id} provider ${verb} the key with isolation ` +
      `${level ?? 'an unknown level'}, below the floor ${floor} (/minimumIsolation)`;
  }
  const ref = formatKeyRef({ providerId: provider.id, scope: target.scope, name: target.name });
  let cleanup: unknown;
  try {
    if (typeof inner?.close === 'function') await inner.close();
  } catch (error) {
    cleanup = error;
  }
  if (made) {
    try {
      await provider.deleteKey({ name: target.name, scope: target.scope });
    } catch (error) {
      cleanup ??= error;
    }
  }
  if (!malformed) decision(action, 'refused', null, [`${provider.id}: ${problem}`], { ref });
  const message = refusalMessage(problem, made, cleanup, malformed);
  throw new KeyStoreError(malformed ? 'ERR_KEYSTORE_NATIVE_FAILURE' : 'ERR_KEYSTORE_POLICY_VIOLATION', message, {
    providerId: provider.id,
    ...(cleanup === undefined ? {} : { cause: cleanup }),
  });
}
