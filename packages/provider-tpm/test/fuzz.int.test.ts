import { KeyStoreError } from '@keystore/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TpmKey, TpmProvider } from '../src/index.js';
import { SIGN_PATHS } from './helpers/sign-paths.js';
import { HAVE_SWTPM, NEEDS_SWTPM, type SwtpmInstance, startSwtpm } from './helpers/swtpm.js';

/** Runs `fn`; a rejection must be a KeyStoreError (anything else is re-thrown to fail the property). */
async function onlyTyped(fn: () => Promise<unknown>): Promise<'ok' | string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    if (!KeyStoreError.is(err)) throw new Error(`not a KeyStoreError: ${String(err)}`, { cause: err });
    return err.code;
  }
}

const nameArb = fc.oneof(
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/), weight: 6 },
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', '.', '..', 'a/b', '/HS/SRK/x', 'x'.repeat(65), 'HS', 'SRK', 'a\0b', 'fuzz-ec'),
);
const hashArb = fc.constantFrom('sha256', 'sha384', 'sha512', 'sha1', 'md5', '', undefined) as fc.Arbitrary<never>;
const paddingArb = fc.constantFrom('pkcs1', 'pss', 'oaep', '', undefined) as fc.Arbitrary<never>;
const algorithmArb = fc.constantFrom(
  'ECDSA-P256',
  'ECDSA-P256',
  'ECDSA-P256',
  'ECDSA-P256',
  'ECDSA-P384',
  'ECDH-P256',
  'RSA-4096',
  'RSA-1024',
  'ed25519',
  '',
) as fc.Arbitrary<never>;
const scopeArb = fc.constantFrom('user', 'user', 'machine', 'machine', 'USER', '', undefined) as fc.Arbitrary<never>;
const passwordArb = fc.option(fc.string({ maxLength: 40 }), { nil: undefined });

const TITLE = `random inputs on swtpm, sign path $name (${HAVE_SWTPM ? 'swtpm found' : NEEDS_SWTPM})`;

describe.skipIf(!HAVE_SWTPM).each(SIGN_PATHS)(TITLE, ({ loadedKeys }) => {
  let tpm: SwtpmInstance;
  let provider: TpmProvider;
  let ec: TpmKey;
  let rsa: TpmKey;

  beforeAll(async () => {
    tpm = await startSwtpm();
    provider = new TpmProvider({ configFile: tpm.configFile, loadedKeys });
    ec = await provider.createKey({ name: 'fuzz-ec', algorithm: 'ECDSA-P256', scope: 'user', exportable: false });
    rsa = await provider.createKey({ name: 'fuzz-rsa', algorithm: 'RSA-2048', scope: 'user', exportable: false });
  });
  afterAll(async () => {
    await provider?.close();
    await tpm?.dispose();
  });

  it('create/open/delete with random names, algorithms, scopes and passwords: only typed errors', async () => {
    const codes = new Map<string, number>();
    const count = (code: string) => codes.set(code, (codes.get(code) ?? 0) + 1);
    await fc.assert(
      fc.asyncProperty(
        nameArb,
        algorithmArb,
        scopeArb,
        passwordArb,
        fc.constantFrom(false, false, false, true),
        async (name, algorithm, scope, password, exportable) => {
          const created = await onlyTyped(() =>
            provider.createKey({ name, algorithm, scope, exportable, ...(password === undefined ? {} : { password }) }),
          );
          count(created);
          await onlyTyped(() => provider.openKey({ name, scope, ...(password === undefined ? {} : { password }) }));
          if (created === 'ok') {
            expect(await onlyTyped(() => provider.deleteKey({ name, scope }))).toBe('ok');
          }
        },
      ),
      { numRuns: 120 },
    );
    // the inputs reach the TPM, not only the validation
    expect(codes.get('ok') ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it('signDigest and decrypt with random data sizes, digest sizes and options: only typed errors, then the keys still work', async () => {
    let signed = 0;
    const randomInput = fc.record({
      bytes: fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom(0, 20, 31, 32, 33, 48, 64, 256).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      ),
      hash: hashArb,
      padding: paddingArb,
      saltLength: fc.oneof(fc.constantFrom(32, 48, 64), fc.integer({ min: -5, max: 600 }), fc.constant(Number.NaN)),
    });
    // Well-formed requests, so that the TPM really signs between the malformed ones.
    const validInput = fc.constantFrom(['sha256', 32], ['sha384', 48], ['sha512', 64]).chain(([hash, n]) =>
      fc.record({
        bytes: fc.uint8Array({ minLength: n as number, maxLength: n as number }),
        hash: fc.constant(hash) as fc.Arbitrary<never>,
        padding: fc.constantFrom('pkcs1', 'pss') as fc.Arbitrary<never>,
        saltLength: fc.constant(n as number),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.oneof({ arbitrary: randomInput, weight: 3 }, { arbitrary: validInput, weight: 1 }),
        fc.constantFrom('sha1', 'sha256', 'sha512', 'bogus') as fc.Arbitrary<never>,
        async (useRsa, { bytes, hash, padding, saltLength }, oaep) => {
          const key = useRsa ? rsa : ec;
          const data = Buffer.from(bytes);
          if ((await onlyTyped(() => key.signDigest(data, { hash, padding, saltLength }))) === 'ok') signed++;
          await onlyTyped(() => key.decrypt(data, oaep));
        },
      ),
      { numRuns: 200 },
    );
    expect(signed).toBeGreaterThan(0);
    const digest = Buffer.alloc(32, 7);
    expect(
      (await ec.signDigest(digest, { hash: 'sha256', padding: 'pkcs1', saltLength: 32 })).signature.length,
    ).toBeGreaterThan(0);
    expect((await rsa.signDigest(digest, { hash: 'sha256', padding: 'pss', saltLength: 32 })).signature.length).toBe(
      256,
    );
  }, 120_000);

  it('non-Buffer and missing arguments: only typed errors, each the one that says what is wrong', async () => {
    const junk: unknown[] = [undefined, null, 42, 'digest', {}, [], new ArrayBuffer(32), new Uint16Array(16)];
    const pkcs1 = { hash: 'sha256', padding: 'pkcs1', saltLength: 32 } as const;
    for (const value of junk) {
      const what = value instanceof Object ? value.constructor.name : String(value);
      // An object without a name is a request missing its name; anything else is not a request.
      const badRequest = value instanceof Object ? 'ERR_KEYSTORE_INVALID_NAME' : 'ERR_KEYSTORE_INVALID_ARGUMENT';
      const outcomes = {
        signDigest: await onlyTyped(() => ec.signDigest(value as Buffer, pkcs1)),
        signOptions: await onlyTyped(() => ec.signDigest(Buffer.alloc(32), value as never)),
        decrypt: await onlyTyped(() => rsa.decrypt(value as Buffer, 'sha256')),
        createKey: await onlyTyped(() => provider.createKey(value as never)),
        openKey: await onlyTyped(() => provider.openKey(value as never)),
        deleteKey: await onlyTyped(() => provider.deleteKey(value as never)),
      };
      expect(outcomes, what).toEqual({
        signDigest: 'ERR_KEYSTORE_INVALID_ARGUMENT',
        signOptions: 'ERR_KEYSTORE_INVALID_ARGUMENT',
        decrypt: 'ERR_KEYSTORE_INVALID_ARGUMENT',
        createKey: badRequest,
        openKey: badRequest,
        deleteKey: badRequest,
      });
      // listKeys takes optional options: no options, or an object without fields, lists the keys.
      if (value === undefined || value instanceof Object) {
        const listed = await provider.listKeys(value as never);
        expect(
          listed.map((k) => k.name),
          what,
        ).toEqual(expect.arrayContaining(['fuzz-ec', 'fuzz-rsa']));
      } else {
        expect(await onlyTyped(() => provider.listKeys(value as never)), what).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
      }
    }
  });
});
