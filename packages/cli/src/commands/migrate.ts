/**
 * `keystore migrate`: moves a key out of a legacy CryptoAPI container into a provider that isolates it,
 * verified before anything is deleted; `keystore migrate --scan` lists what can move.
 *
 * @module
 */
import { constants, diffieHellman, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import {
  algorithmInfo,
  createKeyStore,
  DEFAULT_POLICY,
  type EffectivePolicy,
  formatKeyRef,
  type IsolationLevel,
  isAtLeast,
  isProviderId,
  KEY_REF_PREFIX,
  type KeyScope,
  type KeyStore,
  KeyStoreError,
  type KeyStoreKey,
  type KeyStorePolicy,
  type KeyStoreProvider,
  type PolicySource,
  parseKeyRef,
  requestViolations,
  strongerIsolation,
} from '@keystore/core';
import { providerPolicyRefusals } from '@keystore/core/provider';
import type { CommandContext } from '../commands.js';
import { describeError, errorLines, oneLine } from '../errors.js';
import { EXIT_OK } from '../exit-codes.js';
import { json, line, write } from '../io.js';
import { type DiscoveredProvider, discoverProviders } from '../providers.js';
import { UsageError } from '../usage.js';
import { describeReceipt, describeSource } from './format.js';
import { appPolicy, effectivePolicy, refusedByPolicy } from './store.js';

const SEE = "see 'keystore migrate --help'";

const str = (ctx: CommandContext, name: string): string | undefined => {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
};

/** Announces a step on stderr when it is a terminal (never with --json). */
function progress(ctx: CommandContext): (text: string) => void {
  const stderr = ctx.io.stderr as NodeJS.WritableStream & { isTTY?: boolean };
  if (ctx.json || stderr.isTTY !== true) return () => undefined;
  return (text) => {
    stderr.write(`keystore: ${text}\n`);
  };
}

interface KeyLocation {
  readonly providerId: string;
  readonly name: string;
  readonly scope: KeyScope | undefined;
}

/** `PROVIDER:NAME`, or a key reference `keystore:PROVIDER:SCOPE:NAME`. */
function parseFrom(value: string): KeyLocation {
  if (value.startsWith(KEY_REF_PREFIX)) {
    let parts: ReturnType<typeof parseKeyRef>;
    try {
      parts = parseKeyRef(value);
    } catch (error) {
      throw new UsageError(`--from: ${(error as Error).message}; ${SEE}`);
    }
    return { providerId: parts.providerId, name: parts.name, scope: parts.scope };
  }
  const colon = value.indexOf(':');
  const providerId = colon < 0 ? '' : value.slice(0, colon);
  const name = colon < 0 ? '' : value.slice(colon + 1);
  if (!isProviderId(providerId) || name.length === 0) {
    throw new UsageError(`--from must be PROVIDER:NAME (e.g. capi:my-key), not '${value}'; ${SEE}`);
  }
  return { providerId, name, scope: undefined };
}

/** `PROVIDER` or `PROVIDER:NAME`. */
function parseTo(value: string): { providerId: string; name: string | undefined } {
  const colon = value.indexOf(':');
  const providerId = colon < 0 ? value : value.slice(0, colon);
  const name = colon < 0 ? undefined : value.slice(colon + 1);
  if (!isProviderId(providerId) || name === '') {
    throw new UsageError(`--to must be PROVIDER or PROVIDER:NAME (e.g. cng or cng:my-key), not '${value}'; ${SEE}`);
  }
  return { providerId, name };
}

/** Closes providers, ignoring their errors: the command's own outcome is what gets reported. */
async function closeAll(providers: readonly KeyStoreProvider[]): Promise<void> {
  for (const p of providers) await p.close?.().catch(() => undefined);
}

/** Every installed provider, loaded; one per id (the first found). */
async function loadProviders(
  ctx: CommandContext,
  app: KeyStorePolicy | undefined,
): Promise<{ providers: KeyStoreProvider[]; all: DiscoveredProvider[] }> {
  // A provider the policy refuses is not imported. Reading legacy containers is what migrate is for,
  // so the built-in default that denies legacy CryptoAPI does not keep the source provider from
  // loading (the stores below still apply it before any key is opened); a deny that the machine policy
  // (or --policy) sets does.
  const legacy = { ...app, legacyCryptoApi: app?.legacyCryptoApi ?? 'allow' } as KeyStorePolicy;
  const all = await discoverProviders({ policy: await effectivePolicy(ctx, legacy) });
  const providers: KeyStoreProvider[] = [];
  for (const found of all) {
    if (found.provider && !providers.some((p) => p.id === found.provider?.id)) providers.push(found.provider);
  }
  return { providers, all };
}

function notInstalled(id: string, all: readonly DiscoveredProvider[], role: string): KeyStoreError {
  const refused = all.find((d) => d.id === id && d.policyReasons.length > 0);
  if (refused) return refusedByPolicy(refused, `${role} provider`);
  const broken = all.find((d) => d.id === id && d.loadError !== undefined);
  if (broken) {
    return new KeyStoreError(
      'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
      `the ${role} provider ${id} (${broken.packageName}) could not be loaded: ${broken.loadError}`,
      { providerId: id, hint: `reinstall or rebuild ${broken.packageName}; 'keystore doctor' shows every provider` },
    );
  }
  const installed = all.filter((d) => d.provider).map((d) => d.id);
  return new KeyStoreError('ERR_KEYSTORE_PROVIDER_UNAVAILABLE', `the ${role} provider ${id} is not installed`, {
    providerId: id,
    hint: `installed: ${installed.length > 0 ? installed.join(', ') : 'none'}; install @keystore/provider-${id}`,
  });
}

/**
 * The app policy for the target: the app's policy with its floor raised to at least the built-in
 * default, so that what `--policy` lowers to read the legacy source does not let the new key be as
 * weak (unless `--unsafe-allow-weak-target`).
 */
function targetPolicy(app: KeyStorePolicy | undefined, allowWeak: boolean): KeyStorePolicy | undefined {
  if (allowWeak) return app;
  const floor = strongerIsolation(
    app?.minimumIsolation ?? DEFAULT_POLICY.minimumIsolation,
    DEFAULT_POLICY.minimumIsolation,
  );
  return { ...app, minimumIsolation: floor };
}

/** One thing the effective policy must change before a legacy key can be read for the migration. */
interface Blocker {
  /** The policy field (JSON pointer). */
  readonly field: string;
  /** What is wrong, in words. */
  readonly message: string;
  /** Which layer set the field. */
  readonly source: PolicySource;
  /** What the app policy would need for the field, when the app layer decides it. */
  readonly needs?: Record<string, unknown>;
}

/**
 * What stops the migration from reading a key of `source` under `policy`: provider rules (deny, allow,
 * legacy CryptoAPI), the floor (against the isolation `source` reaches here), and exportable.export.
 */
function sourceBlockers(source: KeyStoreProvider, isolation: IsolationLevel, policy: EffectivePolicy): Blocker[] {
  const from = (field: string) => (policy.sources[field] as PolicySource | undefined) ?? 'default';
  // The provider rules, as the core states them (selection and doctor give the same reasons).
  const blockers: Blocker[] = providerPolicyRefusals(source, policy).map((reason) => ({
    field: reason.field,
    message: reason.message,
    source: reason.source,
    ...(reason.needs === undefined ? {} : { needs: { ...reason.needs } }),
  }));
  if (!isAtLeast(isolation, policy.minimumIsolation)) {
    blockers.push({
      field: '/minimumIsolation',
      message: `the isolation floor is ${policy.minimumIsolation}, above the ${isolation} that ${source.id} reaches (/minimumIsolation)`,
      source: from('/minimumIsolation'),
      needs: { minimumIsolation: isolation },
    });
  }
  if (!policy.exportable.export) {
    blockers.push({
      field: '/exportable/export',
      message: 'private keys may not be exported (/exportable/export is false)',
      source: from('/exportable/export'),
      needs: { exportable: { export: true } },
    });
  }
  return blockers;
}

/**
 * How to lift `blockers`: the app policy that allows `what` (for the rules the app layer decides), and
 * who must change the rules a machine policy set.
 */
function remedy(source: KeyStoreProvider, blockers: readonly Blocker[], policy: EffectivePolicy, what: string) {
  const machine = blockers.filter(
    (b) => b.source === 'machine' || b.source === 'machine-env' || b.source === 'registry',
  );
  const app = blockers.filter((b) => b.source === 'default' || b.source === 'app');
  const needs = Object.assign({}, ...app.map((b) => b.needs ?? {}));
  const parts: string[] = [];
  if (app.length > 0) {
    parts.push(
      `to allow ${what} for the migration, put ${JSON.stringify(needs)} in an app policy and pass it with --policy FILE` +
        (app.some((b) => b.needs === undefined) ? `, and take ${source.id} off the provider lists that refuse it` : ''),
    );
  }
  if (machine.length > 0) {
    const where = [...new Set(machine.map((b) => describeSource(b.source, policy)))].join(' and ');
    parts.push(
      `${machine.map((b) => b.field).join(', ')} ${machine.length === 1 ? 'is' : 'are'} set by ${where}, ` +
        'which --policy cannot loosen: an administrator must allow it there for the migration (and can restore it afterwards)',
    );
  }
  return parts.join('; ');
}

/** Each blocker in words, with the layer that set it. */
function describeBlockers(blockers: readonly Blocker[], policy: EffectivePolicy): string {
  return blockers.map((b) => `${b.message}, set by ${describeSource(b.source, policy)}`).join('; ');
}

/** The error for `blockers`: each with who set it, and how to allow the migration. */
function blockedError(source: KeyStoreProvider, key: string, blockers: readonly Blocker[], policy: EffectivePolicy) {
  return new KeyStoreError(
    'ERR_KEYSTORE_POLICY_VIOLATION',
    `the policy does not let the migration read ${key} from ${source.id}: ${describeBlockers(blockers, policy)}`,
    { providerId: source.id, hint: remedy(source, blockers, policy, 'reading the legacy key') },
  );
}

/**
 * The policy fields that decide whether keys of a legacy provider may be opened at all (to read
 * whether they are exportable); exporting is not needed for that.
 */
const OPEN_FIELDS: readonly string[] = ['/providers/deny', '/providers/allow', '/legacyCryptoApi', '/minimumIsolation'];

/** Verifies `created` against the source: same public key, and a signature (or secret) that only it can make. */
async function verifyMove(
  source: KeyStoreKey,
  created: KeyStoreKey,
  target: KeyStoreProvider,
  signal: AbortSignal | undefined,
): Promise<{ publicKeyMatches: boolean; signatureVerifies: boolean; problem?: string }> {
  const publicKeyMatches = created.publicKey.equals(source.publicKey);
  const info = algorithmInfo(created.algorithm);
  const opts = signal === undefined ? {} : { signal };
  let signatureVerifies = false;
  if (info.operations.includes('sign')) {
    const challenge = randomBytes(32);
    const pss = info.family === 'rsa' && !target.capabilities.rsaSignaturePaddings.includes('pkcs1');
    const signature = await created.sign(challenge, { hash: 'sha256', padding: pss ? 'pss' : 'pkcs1', ...opts });
    signatureVerifies =
      info.family === 'rsa'
        ? verify(
            'sha256',
            challenge,
            pss
              ? { key: source.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
              : { key: source.publicKey, padding: constants.RSA_PKCS1_PADDING },
            signature,
          )
        : verify('sha256', challenge, { key: source.publicKey, dsaEncoding: 'der' }, signature);
  } else {
    // A key-agreement key: the secret with a fresh peer must equal the one the source's public key gives.
    const peer = generateKeyPairSync('ec', { namedCurve: info.namedCurve! });
    const secret = await created.deriveSecret(peer.publicKey, opts);
    signatureVerifies = secret.equals(diffieHellman({ privateKey: peer.privateKey, publicKey: source.publicKey }));
  }
  const problems = [
    ...(publicKeyMatches ? [] : ["the new key's public key differs from the source's"]),
    ...(signatureVerifies
      ? []
      : [
          info.operations.includes('sign')
            ? "a signature by the new key over a random challenge does not verify with the source's public key"
            : "the new key's shared secret differs from the one the source's public key gives",
        ]),
  ];
  return { publicKeyMatches, signatureVerifies, ...(problems.length > 0 ? { problem: problems.join('; ') } : {}) };
}

/**
 * Deletes the key a failed move left in the target (best effort, and also after an interruption) and
 * says what became of it, for the error message; `error` when it could not be deleted.
 */
async function removeNewKey(store: KeyStore, ref: string): Promise<{ text: string; error?: unknown }> {
  try {
    await store.deleteKey(ref);
    return { text: 'the new key was deleted' };
  } catch (error) {
    const report = describeError(error);
    if (report.code === 'ERR_KEYSTORE_KEY_NOT_FOUND')
      return { text: `${ref} is not in the store, so nothing was deleted` };
    return { text: `deleting the new key failed too (${report.message}), delete ${ref} by hand`, error };
  }
}

function keyJson(key: KeyStoreKey) {
  return {
    ref: key.ref,
    provider: key.providerId,
    name: key.name,
    scope: key.scope,
    algorithm: key.algorithm,
    exportable: key.exportable,
    isolation: key.isolation,
    publicKey: key.exportPublicKey('pem'),
  };
}

/** `keystore migrate`. */
export async function migrate(ctx: CommandContext): Promise<number> {
  const from = str(ctx, 'from');
  const to = str(ctx, 'to');
  const scan = ctx.values.scan === true;
  if (scan) {
    const extra = ['from', 'to', 'delete-source', 'exportable'].filter((o) => ctx.values[o] !== undefined);
    if (extra.length > 0) throw new UsageError(`--scan takes no ${extra.map((o) => `--${o}`).join(', ')}; ${SEE}`);
    return migrateScan(ctx);
  }
  if (from === undefined || to === undefined) {
    throw new UsageError(`'migrate' needs --from PROVIDER:NAME and --to PROVIDER[:NAME], or --scan; ${SEE}`);
  }
  const source = parseFrom(from);
  const target = parseTo(to);
  const optionScope = typeof ctx.values.scope === 'string' ? (ctx.values.scope as KeyScope) : undefined;
  if (source.scope !== undefined && optionScope !== undefined && source.scope !== optionScope) {
    throw new UsageError(`--from names the ${source.scope} scope, but --scope is ${optionScope}; ${SEE}`);
  }
  const scope: KeyScope = source.scope ?? optionScope ?? 'user';
  if (source.providerId === target.providerId) {
    throw new UsageError(`--from and --to name the same provider (${source.providerId}); ${SEE}`);
  }
  return moveKey(ctx, source, { providerId: target.providerId, name: target.name ?? source.name }, scope);
}

async function moveKey(
  ctx: CommandContext,
  from: KeyLocation,
  to: { providerId: string; name: string },
  scope: KeyScope,
): Promise<number> {
  const say = progress(ctx);
  const signal = ctx.io.signal;
  const opts = signal === undefined ? {} : { signal };
  const app = await appPolicy(ctx);
  const { providers, all } = await loadProviders(ctx, app);
  const stores: KeyStore[] = [];
  const keys: KeyStoreKey[] = [];
  try {
    const sourceProvider = providers.find((p) => p.id === from.providerId);
    if (!sourceProvider) throw notInstalled(from.providerId, all, 'source');
    const targetProvider = providers.find((p) => p.id === to.providerId);
    if (!targetProvider) throw notInstalled(to.providerId, all, 'target');
    if (targetProvider.capabilities.legacyCryptoApi) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_POLICY_VIOLATION',
        `the target ${to.providerId} is a legacy CryptoAPI provider: moving a key there gains nothing`,
        { providerId: to.providerId, hint: 'migrate into a provider that isolates keys, such as cng' },
      );
    }
    const sourceStore = await createKeyStore({
      providers: [sourceProvider],
      ...(app === undefined ? {} : { policy: app }),
      ...opts,
    });
    stores.push(sourceStore);
    const allowWeak = ctx.values['unsafe-allow-weak-target'] === true;
    const wanted = targetPolicy(app, allowWeak);
    const targetStore = await createKeyStore({
      providers: [targetProvider],
      ...(wanted === undefined ? {} : { policy: wanted }),
      ...opts,
    });
    stores.push(targetStore);

    const sourceRef = formatKeyRef({ providerId: from.providerId, scope, name: from.name });
    say(`checking that the policy lets ${sourceRef} be read…`);
    const sourceVerdict = (await sourceStore.explain({ provider: from.providerId, scope }, opts)).providers[0];
    if (sourceVerdict === undefined || !sourceVerdict.available) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
        `the source provider ${from.providerId} cannot serve here: ${sourceVerdict?.reasons.join('; ') ?? 'no answer'}`,
        { providerId: from.providerId, hint: "'keystore doctor' shows every provider and why" },
      );
    }
    const blockers = sourceBlockers(sourceProvider, sourceVerdict.isolation, sourceStore.policy);
    if (blockers.length > 0) throw blockedError(sourceProvider, sourceRef, blockers, sourceStore.policy);

    say(`opening ${sourceRef}…`);
    const sourceKey = await sourceStore.openKey(sourceRef, opts);
    keys.push(sourceKey);
    if (!sourceKey.exportable) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_NOT_EXPORTABLE',
        `${sourceRef} was created non-exportable: its private key cannot leave ${from.providerId}, so it cannot be moved`,
        {
          providerId: from.providerId,
          hint:
            `issue a new key instead (keystore keys create NAME --provider ${to.providerId} --algorithm ` +
            `${sourceKey.algorithm}) and re-enrol it (a new certificate or registration) wherever ${from.name} was used; ` +
            'then delete the legacy key',
        },
      );
    }
    const exportable = ctx.values.exportable === true;
    const violations = requestViolations(targetStore.policy, { algorithm: sourceKey.algorithm, scope, exportable });
    if (violations.length > 0) {
      throw new KeyStoreError(
        'ERR_KEYSTORE_POLICY_VIOLATION',
        `the policy refuses the new key: ${violations.join('; ')}`,
        { providerId: to.providerId },
      );
    }
    const explanation = await targetStore.explain(
      { provider: to.providerId, scope, algorithm: sourceKey.algorithm, exportable, importKey: true },
      opts,
    );
    if (explanation.selected !== to.providerId) {
      const reasons = explanation.providers.flatMap((v) => v.reasons);
      throw new KeyStoreError(
        'ERR_KEYSTORE_NO_PROVIDER',
        `${to.providerId} cannot take a ${sourceKey.algorithm} key in the ${scope} scope here: ${reasons.join('; ')}`,
        {
          providerId: to.providerId,
          refusals: explanation.providers.map((v) => ({ providerId: v.providerId, reasons: v.reasons })),
          hint: allowWeak
            ? "'keystore doctor' shows every provider and why it was refused"
            : `the new key must reach at least ${targetStore.policy.minimumIsolation}; 'keystore doctor' shows what ${to.providerId} reaches here`,
        },
      );
    }

    say(`exporting the private key of ${sourceRef}…`);
    const privateKey = await sourceKey.exportPrivateKey(opts);
    say(`importing it into ${to.providerId} as ${to.name}…`);
    const imported = await targetStore.importKey(to.name, privateKey, {
      provider: to.providerId,
      scope,
      exportable,
      algorithm: sourceKey.algorithm,
      ...opts,
    });
    keys.push(imported);
    const newRef = imported.ref;

    // What is verified is the key the target's store gives back when asked for it by reference, not the
    // handle importKey returned: a provider that did not keep the key would pass a check of the handle.
    say(`reopening ${newRef} from ${to.providerId}'s store…`);
    await imported.close().catch(() => undefined);
    let created: KeyStoreKey;
    try {
      created = await targetStore.openKey(newRef, opts);
    } catch (error) {
      const cleanup = await removeNewKey(targetStore, newRef);
      if (describeError(error).code === 'ERR_KEYSTORE_CANCELLED') throw error;
      const cause = KeyStoreError.is(error) ? error : undefined;
      throw new KeyStoreError(
        'ERR_KEYSTORE_NATIVE_FAILURE',
        `the key imported into ${to.providerId} as ${newRef} could not be opened again from its store: ` +
          `${describeError(error).message}; ${cleanup.text}, and ${sourceRef} is unchanged`,
        {
          providerId: to.providerId,
          cause: error,
          ...(cause?.nativeStatus === undefined ? {} : { nativeStatus: cause.nativeStatus }),
          ...(cause?.nativeName === undefined ? {} : { nativeName: cause.nativeName }),
          hint: `${to.providerId} did not keep the key it imported; report this against the ${to.providerId} provider; the legacy key is still in use`,
        },
      );
    }
    keys.push(created);

    say(`verifying ${created.ref} against the source's public key…`);
    let verified: Awaited<ReturnType<typeof verifyMove>>;
    try {
      verified = await verifyMove(sourceKey, created, targetProvider, signal);
    } catch (error) {
      verified = {
        publicKeyMatches: false,
        signatureVerifies: false,
        problem: `the new key could not be used: ${describeError(error).message}`,
      };
    }
    if (verified.problem !== undefined) {
      await created.close().catch(() => undefined);
      const cleanup = await removeNewKey(targetStore, newRef);
      throw new KeyStoreError(
        'ERR_KEYSTORE_NATIVE_FAILURE',
        `the key imported into ${to.providerId} did not pass verification: ${verified.problem}; ${cleanup.text}` +
          `, and ${sourceRef} is unchanged`,
        {
          providerId: to.providerId,
          ...(cleanup.error === undefined ? {} : { cause: cleanup.error }),
          hint: `report this against the ${to.providerId} provider; the legacy key is still in use`,
        },
      );
    }

    const warnings: string[] = [];
    if (!isAtLeast(created.isolation.level, strongerIsolation(sourceKey.isolation.level, 'os-isolated'))) {
      warnings.push(
        `the new key's isolation (${created.isolation.level}) is no better than os-isolated or the source's ` +
          `(${sourceKey.isolation.level})`,
      );
    }
    let sourceDeleted = false;
    let deleteFailure: ReturnType<typeof describeError> | undefined;
    if (ctx.values['delete-source'] === true) {
      say(`deleting ${sourceRef}…`);
      await sourceKey.close().catch(() => undefined);
      try {
        await sourceStore.deleteKey(sourceRef, opts);
        sourceDeleted = true;
      } catch (error) {
        deleteFailure = describeError(error);
        if (deleteFailure.code === 'ERR_INTERNAL' || deleteFailure.code === 'ERR_KEYSTORE_CANCELLED') throw error;
      }
    }

    if (ctx.json) {
      await json(ctx.io.stdout, {
        from: keyJson(sourceKey),
        to: keyJson(created),
        verified: { publicKeyMatches: verified.publicKeyMatches, signatureVerifies: verified.signatureVerifies },
        sourceDeleted,
        ...(deleteFailure === undefined ? {} : { sourceDeleteError: deleteFailure.body }),
        warnings,
      });
    } else {
      const out = ctx.io.stdout;
      await line(out, `Moved ${sourceRef} to ${created.ref}`);
      await line(out, `  from:       ${sourceRef} (${sourceKey.algorithm}, isolation ${sourceKey.isolation.level})`);
      await line(
        out,
        `  to:         ${created.ref} (${created.algorithm}, ${created.exportable ? 'exportable' : 'not exportable'})`,
      );
      for (const text of describeReceipt(created.isolation)) await line(out, text);
      await line(
        out,
        `  verified:   ${created.ref} reopened from ${to.providerId}'s store; the public keys are equal; ${
          algorithmInfo(created.algorithm).operations.includes('sign')
            ? "the new key's signature over a random challenge verifies with the source's public key"
            : "the new key's shared secret equals the one the source's public key gives"
        }`,
      );
      await line(
        out,
        sourceDeleted
          ? `  source:     ${sourceRef} deleted`
          : deleteFailure === undefined
            ? `  source:     ${sourceRef} kept (move the apps over, then run again with --delete-source, or delete it with keystore keys delete)`
            : `  source:     ${sourceRef} kept: deleting it failed`,
      );
      for (const warning of warnings) await line(out, `Warning: ${warning}.`);
    }
    if (deleteFailure !== undefined) {
      await write(ctx.io.stderr, errorLines(deleteFailure));
      return deleteFailure.exit;
    }
    return EXIT_OK;
  } finally {
    for (const key of keys) await key.close().catch(() => undefined);
    for (const store of stores) await store.close().catch(() => undefined);
    await closeAll(providers);
  }
}

/** One legacy key in `--scan`. */
interface ScanRow {
  ref: string;
  provider: string;
  name: string;
  scope: KeyScope;
  algorithm: string | null;
  exportable: boolean | null;
  movable: boolean;
  /** Where it could go (providers that would take it under the policy). */
  targets: string[];
  reasons: string[];
}

async function migrateScan(ctx: CommandContext): Promise<number> {
  const signal = ctx.io.signal;
  const opts = signal === undefined ? {} : { signal };
  const scope = typeof ctx.values.scope === 'string' ? (ctx.values.scope as KeyScope) : undefined;
  const app = await appPolicy(ctx);
  const { providers, all } = await loadProviders(ctx, app);
  const stores: KeyStore[] = [];
  try {
    const legacy = providers.filter((p) => p.capabilities.legacyCryptoApi);
    if (legacy.length === 0) {
      const broken = all.find((d) => d.id === 'capi' && d.loadError !== undefined);
      throw broken ? notInstalled('capi', all, 'legacy') : notInstalled('capi', all, 'legacy CryptoAPI');
    }
    const targets = providers.filter((p) => !p.capabilities.legacyCryptoApi);
    const sourceStore = await createKeyStore({ providers: legacy, ...(app ? { policy: app } : {}), ...opts });
    stores.push(sourceStore);
    // The targets are judged as the move judges them, with or without --unsafe-allow-weak-target.
    const wanted = targetPolicy(app, ctx.values['unsafe-allow-weak-target'] === true);
    const targetStore = await createKeyStore({
      providers: targets,
      ...(wanted ? { policy: wanted } : {}),
      ...opts,
    });
    stores.push(targetStore);
    const explained = await sourceStore.explain({}, opts);

    const rows: ScanRow[] = [];
    const undetermined = new Set<ScanRow>();
    const policyBlockers: { provider: string; field: string; message: string; source: PolicySource }[] = [];
    for (const provider of legacy) {
      const verdict = explained.providers.find((v) => v.providerId === provider.id);
      if (!verdict?.available) {
        throw new KeyStoreError(
          'ERR_KEYSTORE_PROVIDER_UNAVAILABLE',
          `the legacy provider ${provider.id} cannot serve here: ${verdict?.reasons.join('; ') ?? 'no answer'}`,
          { providerId: provider.id, hint: "'keystore doctor' shows every provider and why" },
        );
      }
      const blockers = sourceBlockers(provider, verdict.isolation, sourceStore.policy);
      for (const b of blockers) {
        policyBlockers.push({
          provider: provider.id,
          field: b.field,
          message: `${b.message}, set by ${describeSource(b.source, sourceStore.policy)}`,
          source: b.source,
        });
      }
      // Opening a legacy key loads it (CryptoAPI decrypts its private key into this process): only when
      // the policy lets keys of this provider be opened. Otherwise the containers are only listed.
      const openBlockers = blockers.filter((b) => OPEN_FIELDS.includes(b.field));
      const cannotTell =
        openBlockers.length === 0
          ? undefined
          : `cannot tell whether it can move, because the policy does not let ${provider.id} keys be opened ` +
            `(${describeBlockers(openBlockers, sourceStore.policy)}): ` +
            remedy(provider, openBlockers, sourceStore.policy, `the scan to open them`);
      const entries = await provider.listKeys({ ...(scope === undefined ? {} : { scope }), ...opts });
      for (const entry of entries) {
        if (scope !== undefined && entry.scope !== scope) continue;
        const row: ScanRow = {
          ref: formatKeyRef({ providerId: provider.id, scope: entry.scope, name: entry.name }),
          provider: provider.id,
          name: entry.name,
          scope: entry.scope,
          algorithm: entry.algorithm ?? null,
          exportable: null,
          movable: false,
          targets: [],
          reasons: [],
        };
        if (cannotTell !== undefined) {
          row.reasons.push(cannotTell);
          undetermined.add(row);
        } else {
          // Through the key store, so that the policy that allowed this decides the open too.
          try {
            const key = await sourceStore.openKey(row.ref, opts);
            try {
              row.algorithm = key.algorithm;
              row.exportable = key.exportable === true;
            } finally {
              await key.close().catch(() => undefined);
            }
          } catch (error) {
            const report = describeError(error);
            if (report.code === 'ERR_KEYSTORE_CANCELLED') throw error;
            row.reasons.push(`it could not be opened: ${oneLine(report.message)}`); // one line in the scan table
          }
        }
        if (row.exportable === false) {
          row.reasons.push(
            `created non-exportable: its private key cannot leave ${provider.id}; issue a new key in a stronger ` +
              'provider and re-enrol it wherever this one is used',
          );
        }
        if (row.algorithm !== null) {
          const where = await targetStore.explain(
            { algorithm: row.algorithm as KeyStoreKey['algorithm'], scope: entry.scope, importKey: true },
            opts,
          );
          row.targets = where.providers.filter((v) => v.eligible).map((v) => v.providerId);
          if (row.targets.length === 0) {
            const why = where.providers.map((v) => `${v.providerId}: ${v.reasons.join('; ')}`).join('. ');
            row.reasons.push(
              `no installed provider can take a ${row.algorithm} key in the ${entry.scope} scope here` +
                (why === '' ? '' : ` (${why})`),
            );
          }
        }
        row.movable = row.reasons.length === 0;
        rows.push(row);
      }
    }

    if (ctx.json) {
      await json(ctx.io.stdout, {
        keys: rows,
        targets: targets.filter((p) => p.capabilities.importKeys === true).map((p) => p.id),
        policyBlockers,
      });
      return EXIT_OK;
    }
    const out = ctx.io.stdout;
    if (rows.length === 0) {
      await line(out, `No legacy keys${scope === undefined ? '' : ` in the ${scope} scope`}.`);
    } else {
      const width = Math.max(...rows.map((r) => r.ref.length)) + 2;
      for (const row of rows) {
        const exportable = row.exportable === null ? '?' : row.exportable ? 'exportable' : 'not exportable';
        const verdict = row.movable
          ? `can move to ${row.targets.join(', ')}`
          : undetermined.has(row)
            ? row.reasons.join('; ')
            : `cannot move: ${row.reasons.join('; ')}`;
        await line(
          out,
          `${row.ref.padEnd(width)}${(row.algorithm ?? '(unknown)').padEnd(12)}${exportable.padEnd(16)}${verdict}`,
        );
      }
    }
    if (policyBlockers.length > 0 && rows.length > 0) {
      await line(out);
      await line(out, 'Moving needs a policy that lets the legacy keys be read:');
      for (const b of policyBlockers) await line(out, `  - ${b.message}`);
      await line(out, "See 'keystore migrate --help' for a migration policy.");
    }
    return EXIT_OK;
  } finally {
    for (const store of stores) await store.close().catch(() => undefined);
    await closeAll(providers);
  }
}
