/**
 * The fuzzer's steps that use a key: sign, sign a digest, verify, decrypt, derive, export the public
 * key and close, each result checked with Node's crypto.
 *
 * @module
 */
import {
  constants,
  createHash,
  createPublicKey,
  verify as cryptoVerify,
  diffieHellman,
  generateKeyPairSync,
  publicEncrypt,
} from 'node:crypto';
import { digestLength } from '../algorithms.js';
import type { KeyStoreKey, SignOptions } from '../types.js';
import type { FuzzStep } from './fuzz-plan.js';
import { type FuzzRun, type Handle, type NameState, spki, verifyOptions } from './fuzz-run.js';

/** What every key step works with. */
interface Use {
  readonly run: FuzzRun;
  readonly step: FuzzStep;
  readonly h: Handle;
  readonly n: NameState;
  readonly key: KeyStoreKey;
  readonly rsa: boolean;
  readonly message: Buffer;
  readonly signOptions: SignOptions;
  readonly signal: AbortSignal | undefined;
  /** Records a wrong result of this step. */
  readonly wrong: (text: string) => void;
}

/** A step on a key of the step's name (an open one, or opened now). */
export async function useKey(run: FuzzRun, step: FuzzStep, signal: AbortSignal | undefined): Promise<string> {
  const h = await run.handleFor(step, signal);
  if (!h) return 'no key';
  const { key } = h;
  const rsa = key.publicKey.asymmetricKeyType === 'rsa';
  const use: Use = {
    run,
    step,
    h,
    n: run.names[step.name]!,
    key,
    rsa,
    message: run.settings.data.subarray(step.offset, step.offset + step.size),
    signOptions: {
      hash: step.hash,
      ...(rsa ? { padding: step.padding } : { dsaEncoding: step.dsaEncoding }),
      signal,
    },
    signal,
    wrong: (text: string) => run.fail('wrongResult', step.index, `${key.name}: ${text}`),
  };
  switch (step.kind) {
    case 'sign':
      return sign(use);
    case 'signDigest':
      return signDigest(use);
    case 'verify':
      return verifyLast(use);
    case 'decrypt':
      return decrypt(use);
    case 'derive':
      return derive(use);
    case 'exportPublicKey':
      return exportPublicKey(use);
    default:
      return closeKey(use);
  }
}

async function sign({ run, step, h, n, key, message, signOptions, wrong }: Use): Promise<string> {
  const r = await run.call(step.index, 'sign', () => key.sign(message, signOptions));
  if (r.ok) {
    if (!cryptoVerify(step.hash, message, verifyOptions(key.publicKey, signOptions), r.value)) {
      wrong(`the signature does not verify with the key's public key; ${run.signer(message, signOptions, r.value)}`);
    } else {
      // Kept for a later verify step (only a good one: a bad one is reported once, here).
      const options = { ...signOptions, signal: undefined };
      n.lastSignature = { data: Buffer.from(message), signature: r.value, options, der: h.der };
    }
  }
  return r.ok ? 'ok' : r.code;
}

async function signDigest({ run, step, key, message, signOptions, wrong }: Use): Promise<string> {
  const right = digestLength(step.hash);
  const digest =
    step.digestDelta === 0
      ? createHash(step.hash).update(message).digest()
      : run.settings.data.subarray(step.offset, step.offset + Math.max(0, right + step.digestDelta));
  const r = await run.call(step.index, 'signDigest', () => key.signDigest(digest, signOptions));
  if (r.ok && step.digestDelta !== 0) wrong(`signDigest accepted a ${digest.length}-byte digest for ${step.hash}`);
  else if (r.ok && !cryptoVerify(step.hash, message, verifyOptions(key.publicKey, signOptions), r.value)) {
    wrong(`the signature of the digest does not verify; ${run.signer(message, signOptions, r.value)}`);
  }
  return r.ok ? 'ok' : r.code;
}

/** Verifies the name's last good signature (sometimes tampered with), or random bytes when there is none. */
async function verifyLast({ run, step, h, n, key, message, signOptions, signal, wrong }: Use): Promise<string> {
  const last = n.lastSignature;
  const tamper = step.variant < 0.3;
  const signature = last ? Buffer.from(last.signature) : run.settings.data.subarray(step.offset, step.offset + 64);
  if (last && tamper) signature[Math.floor(step.pick * signature.length)]! ^= 0x01;
  const o = last ? { ...last.options, signal } : signOptions;
  const r = await run.call(step.index, 'verify', () => key.verify(last ? last.data : message, signature, o));
  const expected = last !== undefined && !tamper && last.der.equals(h.der);
  if (r.ok && r.value !== expected) wrong(`verify answered ${r.value}, expected ${expected}`);
  return r.ok ? String(r.value) : r.code;
}

async function decrypt({ run, step, key, rsa, message, signal, wrong }: Use): Promise<string> {
  const pub = key.publicKey;
  let ciphertext: Buffer;
  let plaintext: Buffer | undefined;
  if (rsa && step.variant >= 0.2) {
    const room = (pub.asymmetricKeyDetails?.modulusLength ?? 2048) / 8 - 2 * digestLength(step.oaepHash) - 2;
    plaintext = Buffer.from(message.subarray(0, Math.max(0, Math.min(room, message.length))));
    const padding = constants.RSA_PKCS1_OAEP_PADDING;
    ciphertext = publicEncrypt({ key: pub, padding, oaepHash: step.oaepHash }, plaintext);
  } else {
    ciphertext = message.subarray(0, step.size % 600);
  }
  const r = await run.call(step.index, 'decrypt', () => key.decrypt(ciphertext, { hash: step.oaepHash, signal }));
  if (r.ok && plaintext && !r.value.equals(plaintext)) wrong('decrypt returned another plaintext');
  if (r.ok && !rsa) wrong('an EC key decrypted');
  return r.ok ? 'ok' : r.code;
}

async function derive({ run, step, key, rsa, signal, wrong }: Use): Promise<string> {
  const pub = key.publicKey;
  const own = pub.asymmetricKeyDetails?.namedCurve;
  const other = own === 'prime256v1' ? 'secp384r1' : 'prime256v1';
  const peerCurve = step.variant < 0.2 || own === undefined ? other : own;
  const peer = run.peers.get(peerCurve) ?? generateKeyPairSync('ec', { namedCurve: peerCurve });
  run.peers.set(peerCurve, peer);
  const r = await run.call(step.index, 'deriveSecret', () => key.deriveSecret(peer.publicKey, { signal }));
  if (r.ok && (rsa || peerCurve !== own)) {
    wrong('deriveSecret succeeded with a key or peer it cannot agree with');
  } else if (r.ok && !r.value.equals(diffieHellman({ privateKey: peer.privateKey, publicKey: pub }))) {
    wrong('deriveSecret returned another secret than Node computes');
  }
  return r.ok ? 'ok' : r.code;
}

/** The public key as Node reads it back from `exportPublicKey(format)`. */
function readBack(format: 'der' | 'pem' | 'jwk', value: unknown) {
  if (format === 'jwk') return createPublicKey({ key: value as never, format: 'jwk' });
  if (format === 'der') return createPublicKey({ key: value as Buffer, format: 'der', type: 'spki' });
  return createPublicKey(value as string);
}

async function exportPublicKey({ run, step, h, key, wrong }: Use): Promise<string> {
  let format: 'der' | 'pem' | 'jwk' = 'jwk';
  if (step.variant < 0.34) format = 'der';
  else if (step.variant < 0.67) format = 'pem';
  const r = await run.call(step.index, `exportPublicKey(${format})`, () => key.exportPublicKey(format));
  if (r.ok && !spki(readBack(format, r.value)).equals(h.der))
    wrong(`exportPublicKey(${format}) gave another public key`);
  return r.ok ? 'ok' : r.code;
}

/** closeKey: close it while other steps may use it; sometimes keep it, so later steps use a closed key. */
async function closeKey({ run, step, h, n, key }: Use): Promise<string> {
  if (step.variant < 0.5) n.handles = n.handles.filter((x) => x !== h);
  const r = await run.call(step.index, 'close', () => key.close());
  return r.ok ? 'ok' : r.code;
}
