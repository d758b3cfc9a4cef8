import { generateKeyPairSync } from 'node:crypto';
import { algorithmInfo, digestLength, isKeyAlgorithm, KEY_ALGORITHMS } from '@keystore/core';
import { describe, expect, it } from 'vitest';

describe('algorithms', () => {
  it('uses the identifiers of the API, the policy and the CLI', () => {
    expect([...KEY_ALGORITHMS]).toEqual([
      'RSA-2048',
      'RSA-3072',
      'RSA-4096',
      'ECDSA-P256',
      'ECDSA-P384',
      'ECDSA-P521',
      'ECDH-P256',
      'ECDH-P384',
      'ECDH-P521',
    ]);
    expect(isKeyAlgorithm('ECDSA-P256')).toBe(true);
    expect(isKeyAlgorithm('ecdsa-p256')).toBe(false);
    expect(isKeyAlgorithm('toString')).toBe(false);
  });

  it('describes curves as Node names them, with the P1363 field size', () => {
    for (const id of KEY_ALGORITHMS) {
      const info = algorithmInfo(id);
      if (info.family === 'ec') {
        const { publicKey } = generateKeyPairSync('ec', { namedCurve: info.namedCurve! });
        expect(publicKey.asymmetricKeyDetails?.namedCurve).toBe(info.namedCurve);
        expect(info.fieldBytes).toBe(Math.ceil(info.bits / 8));
        expect(info.operations).toEqual([id.startsWith('ECDSA') ? 'sign' : 'derive']);
      } else {
        expect(info.operations).toEqual(['sign', 'decrypt']);
        expect(info.bits).toBe(Number(id.slice(4)));
      }
    }
  });

  it('knows digest lengths', () => {
    expect([digestLength('sha1'), digestLength('sha256'), digestLength('sha384'), digestLength('sha512')]).toEqual([
      20, 32, 48, 64,
    ]);
  });
});
