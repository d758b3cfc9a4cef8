/**
 * Token objects: the templates a key pair is generated with, the search templates that find a key
 * by `CKA_LABEL` and `CKA_ID`, and the public key read back from the token's attributes.
 *
 * @module
 */
import { createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import { algorithmInfo, type KeyAlgorithm, KeyStoreError } from '@keystore/core';
import { CKA, CKK_EC, CKK_RSA, CKM, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY } from './native/constants.js';
import type { Attribute, Memory } from './native/layout.js';
import { PROVIDER_ID } from './rv.js';

/** DER of the named-curve OIDs (`CKA_EC_PARAMS`), from RFC 5480 section 2.1.1.1. */
export const CURVE_OIDS: Readonly<Record<string, Buffer>> = {
  'P-256': Buffer.from('06082a8648ce3d030107', 'hex'),
  'P-384': Buffer.from('06052b81040022', 'hex'),
  'P-521': Buffer.from('06052b81040023', 'hex'),
};

/** The curve of a `CKA_EC_PARAMS` value, or `undefined` for another curve. */
function curveOfParams(params: Buffer | undefined): 'P-256' | 'P-384' | 'P-521' | undefined {
  if (!params) return undefined;
  for (const [curve, oid] of Object.entries(CURVE_OIDS)) if (oid.equals(params)) return curve as 'P-256';
  return undefined;
}

/**
 * The `CKA_ID` of a key this provider creates: 16 random bytes, fixed for the key's life. Random, not
 * derived from the name, so that a key deleted and made again under the same name has another id,
 * and a handle to the old key cannot find the new one.
 */
export function newKeyId(): Buffer {
  return randomBytes(16);
}

/** Whether the token object's type and size (and RSA modulus) are those of `publicKey`. */
export function sameKeyMaterial(
  algorithm: KeyAlgorithm,
  publicKey: KeyObject,
  keyType: number | undefined,
  modulus: Buffer | undefined,
  ecParams: Buffer | undefined,
): boolean {
  const info = algorithmInfo(algorithm);
  if (info.family === 'rsa') {
    if (keyType !== CKK_RSA || !modulus) return false;
    let start = 0;
    while (start < modulus.length && modulus[start] === 0) start++;
    return Buffer.from(publicKey.export({ format: 'jwk' }).n ?? '', 'base64url').equals(modulus.subarray(start));
  }
  return keyType === CKK_EC && curveOfParams(ecParams) === info.curve;
}

/** The attribute templates of `C_GenerateKeyPair` for a new key. */
export function generationTemplates(
  memory: Memory,
  algorithm: KeyAlgorithm,
  name: string,
  id: Buffer,
  exportable: boolean,
): { mechanism: number; publicTemplate: Attribute[]; privateTemplate: Attribute[] } {
  const info = algorithmInfo(algorithm);
  const yes = memory.bool(true);
  const no = memory.bool(false);
  const label = Buffer.from(name, 'utf8');
  const common = [
    { type: CKA.TOKEN, value: yes },
    { type: CKA.LABEL, value: label },
    { type: CKA.ID, value: id },
  ];
  const sign = info.operations.includes('sign');
  const derive = info.operations.includes('derive');
  const decrypt = info.operations.includes('decrypt');
  const privateTemplate: Attribute[] = [
    ...common,
    { type: CKA.PRIVATE, value: yes },
    { type: CKA.SENSITIVE, value: exportable ? no : yes },
    { type: CKA.EXTRACTABLE, value: exportable ? yes : no },
    { type: CKA.SIGN, value: sign ? yes : no },
    { type: CKA.DECRYPT, value: decrypt ? yes : no },
    { type: CKA.DERIVE, value: derive ? yes : no },
  ];
  const publicTemplate: Attribute[] = [
    ...common,
    { type: CKA.PRIVATE, value: no },
    { type: CKA.VERIFY, value: sign ? yes : no },
    { type: CKA.ENCRYPT, value: decrypt ? yes : no },
  ];
  if (info.family === 'rsa') {
    publicTemplate.push(
      { type: CKA.MODULUS_BITS, value: memory.ulong(info.bits) },
      { type: CKA.PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
    );
    return { mechanism: CKM.RSA_PKCS_KEY_PAIR_GEN, publicTemplate, privateTemplate };
  }
  publicTemplate.push({ type: CKA.EC_PARAMS, value: CURVE_OIDS[info.curve!]! });
  return { mechanism: CKM.EC_KEY_PAIR_GEN, publicTemplate, privateTemplate };
}

/** The search template of a key's private or public object by label, or by id. */
export function searchTemplate(
  memory: Memory,
  kind: 'private' | 'public',
  by: { label?: string; id?: Buffer },
): Attribute[] {
  const template: Attribute[] = [
    { type: CKA.CLASS, value: memory.ulong(kind === 'private' ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY) },
  ];
  if (by.label !== undefined) template.push({ type: CKA.LABEL, value: Buffer.from(by.label, 'utf8') });
  if (by.id !== undefined) template.push({ type: CKA.ID, value: by.id });
  return template;
}

/**
 * The uncompressed point inside `CKA_EC_POINT`: v2.40 says a DER OCTET STRING holding it, and some
 * modules return the bare point. Returns `undefined` for anything else.
 */
function ecPoint(value: Buffer, fieldBytes: number): Buffer | undefined {
  const pointLength = 1 + 2 * fieldBytes;
  if (value.length === pointLength && value[0] === 0x04) return value;
  // OCTET STRING, short (< 128) or one-byte long (0x81) length form: the only forms a point of up to
  // 133 bytes takes.
  if (value[0] !== 0x04) return undefined;
  const header = value[1] === 0x81 ? 3 : 2;
  const length = value[1] === 0x81 ? value[2] : value[1];
  if (length !== pointLength || value.length !== header + pointLength || value[header] !== 0x04) return undefined;
  return value.subarray(header);
}

function b64url(value: Buffer): string {
  return value.toString('base64url');
}

/** The public key of an RSA modulus and exponent, or of an EC point on `curve`. */
export function publicKeyFrom(
  algorithm: KeyAlgorithm,
  attributes: { modulus?: Buffer; exponent?: Buffer; point?: Buffer },
): KeyObject {
  const info = algorithmInfo(algorithm);
  try {
    if (info.family === 'rsa') {
      if (!attributes.modulus || !attributes.exponent) throw new Error('no modulus or public exponent');
      return createPublicKey({
        key: { kty: 'RSA', n: b64url(attributes.modulus), e: b64url(attributes.exponent) },
        format: 'jwk',
      });
    }
    const point = attributes.point && ecPoint(attributes.point, info.fieldBytes!);
    if (!point) throw new Error('no uncompressed EC point');
    const n = info.fieldBytes!;
    return createPublicKey({
      key: { kty: 'EC', crv: info.curve!, x: b64url(point.subarray(1, 1 + n)), y: b64url(point.subarray(1 + n)) },
      format: 'jwk',
    });
  } catch (cause) {
    throw new KeyStoreError(
      'ERR_KEYSTORE_NATIVE_FAILURE',
      `the token returned a public key that is not a valid ${algorithm} key`,
      {
        providerId: PROVIDER_ID,
        hint: 'the key object on the token is damaged or of another kind; inspect it with pkcs11-tool --list-objects',
        cause,
      },
    );
  }
}

/** The algorithm of a key from its `CKA_KEY_TYPE`, RSA modulus length or EC params, and whether it derives. */
export function algorithmOf(
  keyType: number | undefined,
  modulus: Buffer | undefined,
  ecParams: Buffer | undefined,
  derive: boolean,
  sign: boolean,
): KeyAlgorithm | undefined {
  if (keyType === CKK_RSA && modulus) {
    let start = 0;
    while (start < modulus.length && modulus[start] === 0) start++;
    const bits = (modulus.length - start) * 8;
    return bits === 2048 || bits === 3072 || bits === 4096 ? (`RSA-${bits}` as KeyAlgorithm) : undefined;
  }
  if (keyType === CKK_EC) {
    const curve = curveOfParams(ecParams);
    if (!curve) return undefined;
    const size = curve.slice(2);
    return (derive && !sign ? `ECDH-P${size}` : `ECDSA-P${size}`) as KeyAlgorithm;
  }
  return undefined;
}
