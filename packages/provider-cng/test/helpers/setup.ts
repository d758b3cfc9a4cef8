/**
 * The CNG provider over the NCrypt double, and small assertion helpers.
 */
import { KeyStoreError } from '@keystore/core';
import { CngProvider } from '../../src/index.js';
import {
  createNCryptDouble,
  createSystemDouble,
  type NCryptDouble,
  type SystemDouble,
  type SystemState,
  type VbsBehaviour,
} from './ncrypt-double.js';

export interface DoubleSetup {
  readonly ncrypt: NCryptDouble;
  readonly system: SystemDouble;
  readonly provider: CngProvider;
}

/** A provider over a fresh double; the posture defaults to Windows 11 24H2, LSASS unprotected, no VBS. */
export function overDouble(posture: Partial<SystemState> = {}, vbs?: VbsBehaviour): DoubleSetup {
  const ncrypt = createNCryptDouble(vbs === undefined ? {} : { vbs });
  const system = createSystemDouble(posture);
  const provider = new CngProvider({ bindings: { ncrypt: () => ncrypt, system: () => system } });
  return { ncrypt, system, provider };
}

/** Awaits a promise that must reject with a KeyStoreError, and returns the error. */
export async function rejection(promise: Promise<unknown>): Promise<KeyStoreError> {
  let value: unknown;
  try {
    value = await promise;
  } catch (err) {
    if (!KeyStoreError.is(err)) throw new Error(`expected a KeyStoreError, got ${String(err)}`, { cause: err });
    return err;
  }
  throw new Error(`expected a rejection, got ${String(value)}`);
}

/** The flags argument of each recorded call of `fn` (its last numeric argument). */
export function flagsOf(
  ncrypt: NCryptDouble,
  fn: 'createPersistedKey' | 'openKey' | 'enumKeys' | 'importKey',
): number[] {
  const position = { createPersistedKey: 4, openKey: 3, enumKeys: 1, importKey: 4 }[fn];
  return ncrypt.callsOf(fn).map((c) => c.args[position] as number);
}
