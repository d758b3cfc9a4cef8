/**
 * The PKCS#11 provider: keys on a token behind a PKCS#11 v2.40 module.
 *
 * @module
 */
import { KeyObject } from 'node:crypto';
import {
  algorithmInfo,
  type IsolationReceipt,
  type KeyAlgorithm,
  type KeyScope,
  KeyStoreError,
  type KeyStoreProvider,
  type OperationOptions,
  type ProbeResult,
  type ProviderCapabilities,
  type ProviderCreateRequest,
  type ProviderImportRequest,
  type ProviderKeyInfo,
  type ProviderKeyRequest,
  throwIfAborted,
} from '@keystore/core';
import { explainError, unavailableProbe } from '@keystore/core/provider';
import { type ModuleIsolation, moduleIsolation } from './isolation.js';
import { Pkcs11Key } from './key.js';
import { importTemplates } from './material.js';
import { CKA, CKK_EC, CKM, CKR } from './native/constants.js';
import type { ObjectHandle } from './native/pkcs11.js';
import { algorithmOf, generationTemplates, newKeyId, publicKeyFrom, searchTemplate } from './objects.js';
import {
  type CheckedOptions,
  checkName,
  checkNoPassword,
  checkOptions,
  checkScope,
  closedError,
  type Pkcs11ProviderOptions,
} from './options.js';
import { PROVIDER_ID } from './rv.js';
import { check, type Lease, Token } from './token.js';

const ALGORITHMS: readonly KeyAlgorithm[] = [
  'RSA-2048',
  'RSA-3072',
  'RSA-4096',
  'ECDSA-P256',
  'ECDSA-P384',
  'ECDSA-P521',
  'ECDH-P256',
  'ECDH-P384',
  'ECDH-P521',
];

/** The mechanisms this provider calls, by name, for `probe().details`. */
const USED_MECHANISMS: readonly (readonly [string, number])[] = Object.entries({
  CKM_RSA_PKCS_KEY_PAIR_GEN: CKM.RSA_PKCS_KEY_PAIR_GEN,
  CKM_RSA_PKCS: CKM.RSA_PKCS,
  CKM_RSA_PKCS_PSS: CKM.RSA_PKCS_PSS,
  CKM_RSA_PKCS_OAEP: CKM.RSA_PKCS_OAEP,
  CKM_EC_KEY_PAIR_GEN: CKM.EC_KEY_PAIR_GEN,
  CKM_ECDSA: CKM.ECDSA,
  CKM_ECDH1_DERIVE: CKM.ECDH1_DERIVE,
});

/** What this provider can do, whatever the token (a token lacking a mechanism answers with a typed error). */
export const PKCS11_CAPABILITIES: ProviderCapabilities = {
  algorithms: ALGORITHMS,
  operations: ['sign', 'decrypt', 'derive'],
  scopes: ['user'],
  exportableKeys: true,
  passwords: false,
  legacyCryptoApi: false,
  rsaSignaturePaddings: ['pkcs1', 'pss'],
  oaepHashes: ['sha1', 'sha256', 'sha384', 'sha512'],
  importKeys: true,
  userPrompt: false,
};

/** The receipt of a key on this module, from its declared (or default) isolation. */
function receipt(isolation: ModuleIsolation): IsolationReceipt {
  return {
    level: isolation.level,
    providerId: PROVIDER_ID,
    measuredAt: new Date().toISOString(),
    evidence: [...isolation.evidence],
    ...(isolation.basis === undefined ? {} : { basis: isolation.basis }),
  };
}

/**
 * Keys on a PKCS#11 token (an HSM, a smart card, SoftHSM2). A key named `N` is a private and a public
 * key object with `CKA_LABEL` `N` and a `CKA_ID` of 16 random bytes fixed for the key's life; keys
 * other tools made are found by their label and opened with their own id. The package README says
 * what was tested where (Linux and SoftHSM2 2.6.1 only).
 *
 * @example
 * ```ts
 * import { Pkcs11Provider } from '@keystore/provider-pkcs11';
 * const provider = new Pkcs11Provider({
 *   module: '/usr/lib/softhsm/libsofthsm2.so',
 *   tokenLabel: 'app',
 *   pinEnv: 'APP_TOKEN_PIN',
 * });
 * console.log(await provider.probe());
 * ```
 * @since 0.1.0
 */
export class Pkcs11Provider implements KeyStoreProvider {
  /** `pkcs11`. */
  readonly id = PROVIDER_ID;
  /** A human-readable name. */
  readonly displayName = 'PKCS#11 token';
  /** What it can do: {@link PKCS11_CAPABILITIES}, with the OAEP hashes the options name. */
  readonly capabilities: ProviderCapabilities;
  private readonly token: Token;
  private readonly options: CheckedOptions;
  private isolationRead: Promise<ModuleIsolation> | undefined;

  constructor(options: Pkcs11ProviderOptions) {
    this.options = checkOptions(options);
    this.token = new Token(this.options);
    this.capabilities = { ...PKCS11_CAPABILITIES, oaepHashes: this.options.oaepHashes };
  }

  /** The module's path. */
  get module(): string {
    return this.options.module;
  }

  /** The module's isolation from the machine policy, read once (again at each probe). */
  private isolation(fresh = false): Promise<ModuleIsolation> {
    if (fresh || !this.isolationRead) {
      this.isolationRead = this.token
        .find()
        .then(({ info }) => moduleIsolation(this.options.module, info.label, this.options.policySources));
      this.isolationRead.catch(() => {
        this.isolationRead = undefined;
      });
    }
    return this.isolationRead;
  }

  /** Loads the module, finds the token and logs in; says why not when it cannot. Never throws. */
  async probe(options?: OperationOptions): Promise<ProbeResult> {
    try {
      throwIfAborted(options?.signal);
      return await this.token.track(() => this.probeToken());
    } catch (err) {
      return unavailableProbe(explainError(err));
    }
  }

  private async probeToken(): Promise<ProbeResult> {
    const native = await this.token.native();
    const { info } = await this.token.find();
    const isolation = await this.isolation(true);
    const mechanisms = await this.token.run(async (lease) => {
      const { slot } = await this.token.find();
      return check(await lease.native.getMechanismList(slot));
    });
    const moduleInfo = await native.getInfo();
    return {
      available: true,
      isolation: isolation.level,
      reasons: [...isolation.evidence],
      details: {
        module: this.options.module,
        moduleDescription: moduleInfo.value ? `${moduleInfo.value.manufacturer} ${moduleInfo.value.description}` : '',
        functionList: `${native.listVersion}${native.viaInterface ? ' (C_GetInterface)' : ' (C_GetFunctionList)'}`,
        tokenLabel: info.label,
        tokenSerial: info.serialNumber,
        tokenModel: `${info.manufacturer} ${info.model}`,
        mechanisms: mechanisms.length,
        isolationBasis: isolation.basis === 'declared' ? 'declared by the machine policy' : 'not declared',
        // What the machine policy declares for this module and where, even when it is not honoured.
        declaredLevel: isolation.declared ?? 'none',
        policySource: isolation.source ?? 'none',
        isolationEvidence: isolation.evidence.join(' '),
        mechanismsUsed: USED_MECHANISMS.filter(([, m]) => mechanisms.includes(m))
          .map(([name]) => name)
          .join(', '),
        mechanismsMissing: USED_MECHANISMS.filter(([, m]) => !mechanisms.includes(m))
          .map(([name]) => name)
          .join(', '),
      },
    };
  }

  private async openFound(lease: Lease, name: string, privateKey: ObjectHandle): Promise<Pkcs11Key> {
    const { native, session } = lease;
    const attrs = check(
      await native.getAttributes(session, privateKey, [
        CKA.ID,
        CKA.KEY_TYPE,
        CKA.EXTRACTABLE,
        CKA.SIGN,
        CKA.DERIVE,
        CKA.MODULUS,
        CKA.PUBLIC_EXPONENT,
        CKA.EC_PARAMS,
      ]),
    );
    const id = attrs.get(CKA.ID) ?? Buffer.alloc(0);
    const keyType = attrs.get(CKA.KEY_TYPE);
    const type = keyType ? Number(native.memory.readUlong(keyType)) : undefined;
    // The public object with the same id carries the EC point (a private EC object has none).
    const publics = check(await native.findObjects(session, searchTemplate(native.memory, 'public', { id }), 2));
    const pub =
      publics.length === 1
        ? check(
            await native.getAttributes(session, publics[0]!, [
              CKA.MODULUS,
              CKA.PUBLIC_EXPONENT,
              CKA.EC_PARAMS,
              CKA.EC_POINT,
            ]),
          )
        : new Map<number, Buffer | undefined>();
    const flag = (value: Buffer | undefined) => value !== undefined && value[0] === 1;
    const algorithm = algorithmOf(
      type,
      attrs.get(CKA.MODULUS) ?? pub.get(CKA.MODULUS),
      attrs.get(CKA.EC_PARAMS) ?? pub.get(CKA.EC_PARAMS),
      flag(attrs.get(CKA.DERIVE)),
      flag(attrs.get(CKA.SIGN)),
    );
    if (!algorithm) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `the key "${name}" is of a type or size this SDK does not use`,
        {
          providerId: PROVIDER_ID,
          hint: 'supported: RSA 2048/3072/4096 and EC P-256/P-384/P-521',
        },
      );
    }
    if (type === CKK_EC && !pub.get(CKA.EC_POINT)) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_KEY_NOT_FOUND',
        `the EC key "${name}" has no public key object with its CKA_ID on the token`,
        {
          providerId: PROVIDER_ID,
          hint: 'the public half is needed for the public key; import it with the same CKA_ID (pkcs11-tool --write-object --type pubkey --id …)',
        },
      );
    }
    const publicKey = publicKeyFrom(algorithm, {
      modulus: attrs.get(CKA.MODULUS) ?? pub.get(CKA.MODULUS),
      exponent: attrs.get(CKA.PUBLIC_EXPONENT) ?? pub.get(CKA.PUBLIC_EXPONENT),
      point: pub.get(CKA.EC_POINT),
    });
    return new Pkcs11Key(
      this.token,
      name,
      algorithm,
      flag(attrs.get(CKA.EXTRACTABLE)),
      receipt(await this.isolation()),
      publicKey,
      Buffer.from(id),
      privateKey,
      lease.generation,
    );
  }

  /**
   * Generates a key pair on the token: `CKA_TOKEN` and `CKA_PRIVATE` true, and `CKA_SENSITIVE` true
   * and `CKA_EXTRACTABLE` false unless `exportable` (which the core allows only when the policy
   * does): then `CKA_SENSITIVE` false and `CKA_EXTRACTABLE` true, so that its value can be read.
   */
  async createKey(request: ProviderCreateRequest): Promise<Pkcs11Key> {
    if (this.token.closed) throw closedError();
    const name = checkName(request?.name);
    checkScope(request.scope);
    checkNoPassword(request.password);
    throwIfAborted(request.signal);
    if (!ALGORITHMS.includes(request.algorithm)) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `the PKCS#11 provider does not create ${String(request.algorithm)} keys`,
        {
          providerId: PROVIDER_ID,
        },
      );
    }
    algorithmInfo(request.algorithm);
    // One create of a name at a time in this process (the check and the generation are two calls).
    const { info } = await this.token.track(() => this.token.find());
    return oneAtATime(`${this.options.module}\0${info.serialNumber}\0${name}`, () =>
      this.make(name, request, async ({ native, session }, id) => {
        const t = generationTemplates(native.memory, request.algorithm, name, id, request.exportable === true);
        return check(
          await native.generateKeyPair(session, { mechanism: t.mechanism }, t.publicTemplate, t.privateTemplate),
          `generating a ${request.algorithm} key`,
        );
      }),
    );
  }

  /**
   * Creates an existing private key on the token (`C_CreateObject` of the private and the public
   * object, same label and a new random `CKA_ID`), sensitive and not extractable unless `exportable`.
   * The buffers that held the key's material are zeroed once the token has it. A token that refuses
   * to create private key objects answers with a typed error (`CKR_TEMPLATE_INCONSISTENT`,
   * `CKR_ATTRIBUTE_VALUE_INVALID` … as `ERR_KEYSTORE_NATIVE_FAILURE` with the return value's name).
   */
  async importKey(request: ProviderImportRequest): Promise<Pkcs11Key> {
    if (this.token.closed) throw closedError();
    const name = checkName(request?.name);
    checkScope(request.scope);
    checkNoPassword(request.password);
    throwIfAborted(request.signal);
    if (!(request.privateKey instanceof KeyObject) || request.privateKey.type !== 'private') {
      throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', 'privateKey must be a private KeyObject', {
        providerId: PROVIDER_ID,
      });
    }
    if (!ALGORITHMS.includes(request.algorithm)) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_UNSUPPORTED_ALGORITHM',
        `the PKCS#11 provider does not import ${String(request.algorithm)} keys`,
        { providerId: PROVIDER_ID },
      );
    }
    const { info } = await this.token.track(() => this.token.find());
    return oneAtATime(`${this.options.module}\0${info.serialNumber}\0${name}`, () =>
      this.make(name, request, async ({ native, session }, id) => {
        const t = importTemplates(
          native.memory,
          request.algorithm,
          request.privateKey,
          name,
          id,
          request.exportable === true,
        );
        try {
          const privateKey = check(
            await native.createObject(session, t.privateTemplate),
            `importing a ${request.algorithm} key`,
          );
          const publicKey = await native.createObject(session, t.publicTemplate);
          if (publicKey.rv !== CKR.OK) await native.destroyObject(session, privateKey);
          return { privateKey, publicKey: check(publicKey, `importing a ${request.algorithm} key`) };
        } finally {
          t.wipe();
        }
      }),
    );
  }

  /**
   * Makes a key pair named `name` with `create` (after checking the name is free), then checks that no
   * other process made the same name at once and opens it; rolls the pair back on any failure.
   */
  private make(
    name: string,
    request: ProviderCreateRequest,
    create: (lease: Lease, id: Buffer) => Promise<{ privateKey: ObjectHandle; publicKey: ObjectHandle }>,
  ): Promise<Pkcs11Key> {
    return this.token.run(
      async (lease) => {
        const { native, session } = lease;
        const existing = check(
          await native.findObjects(session, searchTemplate(native.memory, 'private', { label: name }), 1),
        );
        if (existing.length > 0) {
          throw new KeyStoreError('ERR_KEYSTORE_KEY_EXISTS', `a key named "${name}" is already on the token`, {
            providerId: PROVIDER_ID,
          });
        }
        const pair = await create(lease, newKeyId());
        try {
          if (request.signal?.aborted) throwIfAborted(request.signal);
          // Another process may have made the name at the same time: then neither key stays.
          const named = check(
            await native.findObjects(session, searchTemplate(native.memory, 'private', { label: name }), 2),
          );
          if (named.length > 1) {
            throw new KeyStoreError(
              'ERR_KEYSTORE_KEY_EXISTS',
              `another key named "${name}" was made on the token at the same time`,
              {
                providerId: PROVIDER_ID,
              },
            );
          }
          return await this.openFound(lease, name, pair.privateKey);
        } catch (err) {
          await native.destroyObject(session, pair.privateKey);
          await native.destroyObject(session, pair.publicKey);
          throw err;
        }
      },
      { signal: request.signal, retry: false },
    );
  }

  /** Opens a key by its `CKA_LABEL`; `ERR_KEYSTORE_KEY_NOT_FOUND` when there is none. */
  async openKey(request: ProviderKeyRequest): Promise<Pkcs11Key> {
    if (this.token.closed) throw closedError();
    const name = checkName(request?.name);
    checkScope(request.scope);
    checkNoPassword(request.password);
    throwIfAborted(request.signal);
    return this.token.run(
      async (lease) => {
        const found = check(
          await lease.native.findObjects(
            lease.session,
            searchTemplate(lease.native.memory, 'private', { label: name }),
            2,
          ),
        );
        if (found.length === 0) {
          await this.token.checkLoggedIn(lease);
          throw notFound(name);
        }
        if (found.length > 1) {
          throw new KeyStoreError(
            'ERR_KEYSTORE_KEY_EXISTS',
            `more than one private key on the token is labelled "${name}"`,
            {
              providerId: PROVIDER_ID,
              hint: 'relabel or delete one of them (pkcs11-tool --list-objects shows their ids)',
            },
          );
        }
        return this.openFound(lease, name, found[0]!);
      },
      { signal: request.signal },
    );
  }

  /** Lists the private keys on the token that have a label. */
  async listKeys(options?: OperationOptions & { scope?: KeyScope }): Promise<ProviderKeyInfo[]> {
    if (this.token.closed) throw closedError();
    throwIfAborted(options?.signal);
    if (options?.scope === 'machine') return [];
    if (options?.scope !== undefined) checkScope(options.scope);
    return this.token.run(
      async (lease) => {
        const { native, session } = lease;
        await this.token.checkLoggedIn(lease);
        const found = check(await native.findObjects(session, searchTemplate(native.memory, 'private', {}), 4096));
        const out: ProviderKeyInfo[] = [];
        for (const handle of found) {
          const read = await native.getAttributes(session, handle, [
            CKA.LABEL,
            CKA.KEY_TYPE,
            CKA.MODULUS,
            CKA.EC_PARAMS,
            CKA.SIGN,
            CKA.DERIVE,
          ]);
          // A key deleted between the search and the read is not listed.
          if (read.rv === CKR.OBJECT_HANDLE_INVALID) continue;
          const a = check(read);
          const label = a.get(CKA.LABEL)?.toString('utf8');
          if (!label) continue;
          const keyType = a.get(CKA.KEY_TYPE);
          const algorithm = algorithmOf(
            keyType ? Number(native.memory.readUlong(keyType)) : undefined,
            a.get(CKA.MODULUS),
            a.get(CKA.EC_PARAMS),
            a.get(CKA.DERIVE)?.[0] === 1,
            a.get(CKA.SIGN)?.[0] === 1,
          );
          out.push({ name: label, scope: 'user', ...(algorithm ? { algorithm } : {}) });
        }
        return out;
      },
      { signal: options?.signal },
    );
  }

  /** Deletes the key's private object and the public objects with its `CKA_ID`. */
  async deleteKey(request: ProviderKeyRequest): Promise<void> {
    if (this.token.closed) throw closedError();
    const name = checkName(request?.name);
    checkScope(request.scope);
    throwIfAborted(request.signal);
    await this.token.run(
      async (lease) => {
        const { native, session } = lease;
        const found = check(
          await native.findObjects(session, searchTemplate(native.memory, 'private', { label: name }), 2),
        );
        if (found.length === 0) {
          await this.token.checkLoggedIn(lease);
          throw notFound(name);
        }
        if (found.length > 1) {
          throw new KeyStoreError(
            'ERR_KEYSTORE_KEY_EXISTS',
            `more than one private key on the token is labelled "${name}"; none was deleted`,
            {
              providerId: PROVIDER_ID,
            },
          );
        }
        const id = check(await native.getAttributes(session, found[0]!, [CKA.ID])).get(CKA.ID) ?? Buffer.alloc(0);
        const publics =
          id.length > 0
            ? check(await native.findObjects(session, searchTemplate(native.memory, 'public', { id }), 16))
            : [];
        const rv = (await native.destroyObject(session, found[0]!)).rv;
        if (rv !== CKR.OK) check({ rv, fn: 'C_DestroyObject' }, `deleting "${name}"`);
        for (const handle of publics) await native.destroyObject(session, handle);
      },
      { signal: request.signal },
    );
  }

  /** Closes the sessions and, when no other provider in this process uses the module, finalizes it. Idempotent. */
  async close(): Promise<void> {
    await this.token.close();
  }

  /** Same as {@link Pkcs11Provider.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Creates in flight, by module, token and name. */
const creating = new Map<string, Promise<unknown>>();

/** Runs `work` after every earlier call with the same `key` has settled. */
function oneAtATime<T>(key: string, work: () => Promise<T>): Promise<T> {
  const before = creating.get(key) ?? Promise.resolve();
  const run = before.then(work, work);
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  creating.set(key, settled);
  void settled.then(() => {
    if (creating.get(key) === settled) creating.delete(key);
  });
  return run;
}

function notFound(name: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_KEY_NOT_FOUND', `no key labelled "${name}" on the token`, {
    providerId: PROVIDER_ID,
    hint: 'list the keys (keystore list, or pkcs11-tool --list-objects --login) to see the labels on the token',
  });
}

/**
 * Creates a {@link Pkcs11Provider}.
 *
 * @example
 * ```ts
 * import { createKeyStore } from '@keystore/core';
 * import { pkcs11Provider } from '@keystore/provider-pkcs11';
 * const store = await createKeyStore({
 *   providers: [pkcs11Provider({ module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'app', pinFile: '/run/secrets/pin' })],
 * });
 * ```
 * @since 0.1.0
 */
export function pkcs11Provider(options: Pkcs11ProviderOptions): Pkcs11Provider {
  return new Pkcs11Provider(options);
}
