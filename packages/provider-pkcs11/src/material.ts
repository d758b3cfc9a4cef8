/**
 * Private key material in and out of the token: the `C_CreateObject` templates of an imported key
 * pair, and the private key read back from an exportable key's attributes. Every buffer that held
 * key material is zeroed once the token has it (or once the `KeyObject` is made); the JWK strings
 * Node.js hands out and takes in cannot be wiped and are left to the garbage collector.
 *
 * @module
 */
import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { algorithmInfo, type KeyAlgorithm, KeyStoreError } from '@keystore/core';
import { CKA, CKK_EC, CKK_RSA, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY } from './native/constants.js';
import type { Attribute, Memory } from './native/layout.js';
import { CURVE_OIDS } from './objects.js';
import { PROVIDER_ID } from './rv.js';

/** The RSA private key's members in `CKA_*` order, with their JWK names. */
const RSA_MEMBERS = [
  [CKA.MODULUS, 'n'],
  [CKA.PUBLIC_EXPONENT, 'e'],
  [CKA.PRIVATE_EXPONENT, 'd'],
  [CKA.PRIME_1, 'p'],
  [CKA.PRIME_2, 'q'],
  [CKA.EXPONENT_1, 'dp'],
  [CKA.EXPONENT_2, 'dq'],
  [CKA.COEFFICIENT, 'qi'],
] as const;

/** The two objects of an imported key pair, and the buffers to wipe once the token has them. */
interface ImportTemplates {
  readonly privateTemplate: Attribute[];
  readonly publicTemplate: Attribute[];
  /** Zeroes every buffer that held private key material. */
  wipe(): void;
}

function member(jwk: JsonWebKey, name: string): Buffer {
  const value = jwk[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `the private key has no "${name}" member`, {
      providerId: PROVIDER_ID,
      hint: 'import a complete RSA (with its CRT members) or EC private key',
    });
  }
  return Buffer.from(value, 'base64url');
}

/**
 * The templates that create `privateKey` on the token as a key pair named `name` with id `id`:
 * `CKA_SENSITIVE` true and `CKA_EXTRACTABLE` false unless `exportable` (then the reverse, so that
 * its value can be read back).
 */
export function importTemplates(
  memory: Memory,
  algorithm: KeyAlgorithm,
  privateKey: KeyObject,
  name: string,
  id: Buffer,
  exportable: boolean,
): ImportTemplates {
  const info = algorithmInfo(algorithm);
  const jwk = privateKey.export({ format: 'jwk' });
  const yes = memory.bool(true);
  const no = memory.bool(false);
  const common = [
    { type: CKA.TOKEN, value: yes },
    { type: CKA.LABEL, value: Buffer.from(name, 'utf8') },
    { type: CKA.ID, value: id },
  ];
  const sign = info.operations.includes('sign');
  const decrypt = info.operations.includes('decrypt');
  const derive = info.operations.includes('derive');
  const secrets: Buffer[] = [];
  const privateTemplate: Attribute[] = [
    { type: CKA.CLASS, value: memory.ulong(CKO_PRIVATE_KEY) },
    ...common,
    { type: CKA.PRIVATE, value: yes },
    { type: CKA.SENSITIVE, value: exportable ? no : yes },
    { type: CKA.EXTRACTABLE, value: exportable ? yes : no },
    { type: CKA.SIGN, value: sign ? yes : no },
    { type: CKA.DECRYPT, value: decrypt ? yes : no },
    { type: CKA.DERIVE, value: derive ? yes : no },
  ];
  const publicTemplate: Attribute[] = [
    { type: CKA.CLASS, value: memory.ulong(CKO_PUBLIC_KEY) },
    ...common,
    { type: CKA.PRIVATE, value: no },
    { type: CKA.VERIFY, value: sign ? yes : no },
    { type: CKA.ENCRYPT, value: decrypt ? yes : no },
  ];
  try {
    if (info.family === 'rsa') {
      privateTemplate.push({ type: CKA.KEY_TYPE, value: memory.ulong(CKK_RSA) });
      publicTemplate.push({ type: CKA.KEY_TYPE, value: memory.ulong(CKK_RSA) });
      for (const [type, jwkName] of RSA_MEMBERS) {
        const value = member(jwk, jwkName);
        if (type !== CKA.MODULUS && type !== CKA.PUBLIC_EXPONENT) secrets.push(value);
        privateTemplate.push({ type, value });
        if (type === CKA.MODULUS || type === CKA.PUBLIC_EXPONENT) publicTemplate.push({ type, value });
      }
    } else {
      const params = CURVE_OIDS[info.curve!]!;
      const d = member(jwk, 'd');
      secrets.push(d);
      const point = Buffer.concat([Buffer.from([4]), member(jwk, 'x'), member(jwk, 'y')]);
      // CKA_EC_POINT is the DER OCTET STRING of the uncompressed point (v2.40 section 2.3.3); at
      // most 133 bytes, so a one-byte length, in the long form from 128 bytes on.
      const header = point.length < 128 ? [0x04, point.length] : [0x04, 0x81, point.length];
      privateTemplate.push(
        { type: CKA.KEY_TYPE, value: memory.ulong(CKK_EC) },
        { type: CKA.EC_PARAMS, value: params },
        { type: CKA.VALUE, value: d },
      );
      publicTemplate.push(
        { type: CKA.KEY_TYPE, value: memory.ulong(CKK_EC) },
        { type: CKA.EC_PARAMS, value: params },
        { type: CKA.EC_POINT, value: Buffer.concat([Buffer.from(header), point]) },
      );
    }
  } catch (err) {
    for (const secret of secrets) secret.fill(0);
    throw err;
  }
  return {
    privateTemplate,
    publicTemplate,
    wipe: () => {
      for (const secret of secrets) secret.fill(0);
    },
  };
}

/** The attributes {@link privateKeyFrom} needs for `algorithm`. */
export function exportAttributes(algorithm: KeyAlgorithm): number[] {
  return algorithmInfo(algorithm).family === 'rsa' ? RSA_MEMBERS.map(([type]) => type) : [CKA.VALUE];
}

/**
 * The private key from an exportable key's attributes (and, for EC, its public key's point), or
 * `undefined` when the token withheld a member (`CKA_SENSITIVE`). Zeroes `values` either way.
 */
export function privateKeyFrom(
  algorithm: KeyAlgorithm,
  values: Map<number, Buffer | undefined>,
  publicKey: KeyObject,
): KeyObject | undefined {
  try {
    const info = algorithmInfo(algorithm);
    const b64 = (type: number): string | undefined => {
      const value = values.get(type);
      return value && value.length > 0 ? value.toString('base64url') : undefined;
    };
    let jwk: JsonWebKey;
    if (info.family === 'rsa') {
      jwk = { kty: 'RSA' };
      for (const [type, jwkName] of RSA_MEMBERS) {
        const value = b64(type);
        if (value === undefined) return undefined;
        jwk[jwkName] = value;
      }
    } else {
      const d = values.get(CKA.VALUE);
      if (!d || d.length === 0) return undefined;
      // The scalar at the curve's full width, as JWK wants it (a token may drop leading zeros).
      const width = info.fieldBytes!;
      const scalar = Buffer.alloc(width);
      d.copy(scalar, Math.max(0, width - d.length), Math.max(0, d.length - width));
      const { x, y, crv } = publicKey.export({ format: 'jwk' });
      jwk = { kty: 'EC', crv, x, y, d: scalar.toString('base64url') };
      scalar.fill(0);
    }
    return createPrivateKey({ key: jwk, format: 'jwk' });
  } finally {
    for (const value of values.values()) value?.fill(0);
  }
}
