/**
 * What the parts of the conformance suite share: the provider under test, the keys the suite made (to
 * delete them afterwards), the declared skips, and the assertions every part uses.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { constants, generateKeyPair, type KeyObject, verify } from 'node:crypto';
import {
  algorithmInfo,
  digestLength,
  type HashAlgorithm,
  type KeyAlgorithm,
  type KeyOperation,
  type KeyScope,
  type RsaPadding,
} from '../algorithms.js';
import { KeyStoreError, type KeyStoreErrorCode } from '../errors.js';
import type { KeyStoreProvider, ProbeResult, ProviderKey, ProviderSignature, SignatureScheme } from '../types.js';
import type { ConformanceCapability, ConformanceTestApi } from './conformance.js';

/** A Node key pair for `algorithm`, generated off the main thread. */
export function nodeKeyPair(algorithm: KeyAlgorithm): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  const info = algorithmInfo(algorithm);
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, publicKey: KeyObject, privateKey: KeyObject) =>
      error ? reject(error) : resolve({ publicKey, privateKey });
    if (info.family === 'rsa') generateKeyPair('rsa', { modulusLength: info.bits }, done);
    else generateKeyPair('ec', { namedCurve: info.namedCurve! }, done);
  });
}

export async function rejectsWith(
  action: () => Promise<unknown>,
  code: KeyStoreErrorCode,
  what: string,
): Promise<void> {
  let settled = false;
  try {
    await action();
    settled = true;
  } catch (err) {
    assert.ok(KeyStoreError.is(err), `${what}: expected a KeyStoreError with ${code}, got ${String(err)}`);
    assert.equal(err.code, code, `${what}: expected ${code}, got ${err.code} (${err.message})`);
  }
  assert.ok(!settled, `${what}: expected a rejection with ${code}, but it resolved`);
}

export function verifySignature(
  key: ProviderKey,
  publicKey: KeyObject,
  data: Buffer,
  hash: HashAlgorithm,
  padding: RsaPadding,
  result: ProviderSignature,
  what: string,
): void {
  assert.ok(Buffer.isBuffer(result.signature), `${what}: the signature must be a Buffer`);
  const info = algorithmInfo(key.algorithm);
  if (info.family === 'ec') {
    assert.ok(
      result.dsaEncoding === 'der' || result.dsaEncoding === 'ieee-p1363',
      `${what}: an ECDSA signature must say its dsaEncoding, got ${String(result.dsaEncoding)}`,
    );
    const ok = verify(hash, data, { key: publicKey, dsaEncoding: result.dsaEncoding }, result.signature);
    assert.ok(ok, `${what}: the ${result.dsaEncoding} signature does not verify with crypto.verify`);
    return;
  }
  assert.equal(result.signature.length, info.bits / 8, `${what}: an RSA signature is as long as the modulus`);
  const options =
    padding === 'pss'
      ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digestLength(hash) }
      : { key: publicKey, padding: constants.RSA_PKCS1_PADDING };
  assert.ok(verify(hash, data, options, result.signature), `${what}: the signature does not verify with crypto.verify`);
}

/** The state of one suite, set while the tests are defined and (provider, probe, scope) in its first hook. */
export class SuiteState {
  provider: KeyStoreProvider | undefined;
  probe: ProbeResult | undefined;
  scope: KeyScope = 'user';
  #counter = 0;
  /** Every key the suite created (or tried to), deleted after the tests. */
  readonly created: Array<{ name: string; scope: KeyScope }> = [];
  /** Every handle the suite opened, closed after the tests. */
  readonly handles: ProviderKey[] = [];

  constructor(
    readonly test: ConformanceTestApi,
    readonly timeout: number | undefined,
    readonly skips: Partial<Record<ConformanceCapability, string>>,
    readonly prefix: string,
    readonly algorithms: readonly KeyAlgorithm[],
  ) {}

  p(): KeyStoreProvider {
    assert.ok(this.provider, 'the provider was not created (see the error of the first hook)');
    return this.provider;
  }

  freshName(label: string): string {
    return `${this.prefix}${label}-${++this.#counter}`;
  }

  track(key: ProviderKey): ProviderKey {
    this.handles.push(key);
    return key;
  }

  async create(
    label: string,
    algorithm: KeyAlgorithm,
    extra: { exportable?: boolean; scope?: KeyScope; password?: string } = {},
  ): Promise<ProviderKey> {
    const name = this.freshName(label);
    const keyScope = extra.scope ?? this.scope;
    this.created.push({ name, scope: keyScope });
    const key = await this.p().createKey({
      name,
      algorithm,
      scope: keyScope,
      exportable: extra.exportable ?? false,
      ...(extra.password === undefined ? {} : { password: extra.password }),
    });
    return this.track(key);
  }

  /** Registers a test, or a visible skip when the part is declared skipped. */
  part(capability: ConformanceCapability | undefined, name: string, fn: () => Promise<void>): void {
    const reason = capability === undefined ? undefined : this.skips[capability];
    if (capability !== undefined && reason !== undefined) {
      const title = `${capability} — skipped: ${reason}`;
      if (typeof this.test.it.skip === 'function') this.test.it.skip(title, () => {});
      else this.test.it(title, () => {}, this.timeout);
    } else {
      this.test.it(name, fn, this.timeout);
    }
  }

  /** Fails when the provider does not claim a part that was not declared skipped. */
  claims(claimed: boolean, capability: ConformanceCapability, what: string): void {
    assert.ok(
      claimed,
      `${what} is not in the provider's capabilities: declare skip.${capability} with a reason, or claim it`,
    );
  }

  hasOperation(operation: KeyOperation): boolean {
    return this.p().capabilities.operations.includes(operation);
  }

  /** Whether the provider signs with `hash` in `scheme` (capabilities.signatureHashes; every hash when unlisted). */
  signsWith(scheme: SignatureScheme, hash: HashAlgorithm): boolean {
    return this.p().capabilities.signatureHashes?.[scheme]?.includes(hash) ?? true;
  }

  firstSigningAlgorithm(): KeyAlgorithm | undefined {
    return this.algorithms.find((a) => algorithmInfo(a).operations.includes('sign'));
  }
}
