/**
 * How `keystore migrate` checks that the key it created is the source's key, before anything is deleted.
 *
 * @module
 */
import { constants, diffieHellman, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { algorithmInfo, type KeyStoreKey, type KeyStoreProvider } from '@keystore/core';

/** What {@link verifyMove} found. */
export interface MoveCheck {
  readonly publicKeyMatches: boolean;
  /**
   * What proved that the new key holds the source's private key: a signature over a random challenge
   * (signing keys), or the secret agreed with a fresh peer (key-agreement keys).
   */
  readonly proof: 'signature' | 'shared-secret';
  /** The signature verifies with the source's public key, or the secret equals the one it gives. */
  readonly proofHolds: boolean;
  /** What failed, in words; absent when both checks passed. */
  readonly problem?: string;
}

/** A signature by `created` over a random challenge, verified with the source's public key. */
async function signatureHolds(
  source: KeyStoreKey,
  created: KeyStoreKey,
  target: KeyStoreProvider,
  opts: { signal?: AbortSignal },
): Promise<boolean> {
  const info = algorithmInfo(created.algorithm);
  const challenge = randomBytes(32);
  if (info.family !== 'rsa') {
    const signature = await created.sign(challenge, { hash: 'sha256', padding: 'pkcs1', ...opts });
    return verify('sha256', challenge, { key: source.publicKey, dsaEncoding: 'der' }, signature);
  }
  const pss = !target.capabilities.rsaSignaturePaddings.includes('pkcs1');
  const signature = await created.sign(challenge, { hash: 'sha256', padding: pss ? 'pss' : 'pkcs1', ...opts });
  const key = pss
    ? { key: source.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
    : { key: source.publicKey, padding: constants.RSA_PKCS1_PADDING };
  return verify('sha256', challenge, key, signature);
}

/** A key-agreement key: the secret with a fresh peer must equal the one the source's public key gives. */
async function secretHolds(source: KeyStoreKey, created: KeyStoreKey, opts: { signal?: AbortSignal }) {
  const peer = generateKeyPairSync('ec', { namedCurve: algorithmInfo(created.algorithm).namedCurve! });
  const secret = await created.deriveSecret(peer.publicKey, opts);
  return secret.equals(diffieHellman({ privateKey: peer.privateKey, publicKey: source.publicKey }));
}

/** The proof {@link verifyMove} uses for keys of `created`'s algorithm. */
export function proofFor(created: KeyStoreKey): MoveCheck['proof'] {
  return algorithmInfo(created.algorithm).operations.includes('sign') ? 'signature' : 'shared-secret';
}

/** Verifies `created` against the source: same public key, and a signature (or secret) that only it can make. */
export async function verifyMove(
  source: KeyStoreKey,
  created: KeyStoreKey,
  target: KeyStoreProvider,
  signal: AbortSignal | undefined,
): Promise<MoveCheck> {
  const publicKeyMatches = created.publicKey.equals(source.publicKey);
  const opts = signal === undefined ? {} : { signal };
  const proof = proofFor(created);
  const proofHolds =
    proof === 'signature'
      ? await signatureHolds(source, created, target, opts)
      : await secretHolds(source, created, opts);
  const problems: string[] = [];
  if (!publicKeyMatches) problems.push("the new key's public key differs from the source's");
  if (!proofHolds) {
    problems.push(
      proof === 'signature'
        ? "a signature by the new key over a random challenge does not verify with the source's public key"
        : "the new key's shared secret differs from the one the source's public key gives",
    );
  }
  return { publicKeyMatches, proof, proofHolds, ...(problems.length > 0 ? { problem: problems.join('; ') } : {}) };
}

/**
 * What the `--json` output says was verified, named after the check that ran: `signatureVerifies` for a
 * signing key, `sharedSecretMatches` for a key-agreement key.
 */
export function verifiedJson(check: MoveCheck) {
  return check.proof === 'signature'
    ? { publicKeyMatches: check.publicKeyMatches, signatureVerifies: check.proofHolds }
    : { publicKeyMatches: check.publicKeyMatches, sharedSecretMatches: check.proofHolds };
}
