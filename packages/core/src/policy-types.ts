/**
 * The policy interfaces: the policy document, its sources, and the resolved and effective policy.
 *
 * @module
 */
import type { KeyAlgorithm, KeyScope } from './algorithms.js';
import type { IsolationLevel } from './isolation.js';

/**
 * A policy document: what the app asks for, or what a machine's owners require. Every field is
 * optional; omitted fields take the built-in defaults. See the JSON Schema shipped as
 * `@keystore/core/policy.schema.json`.
 * The {@link "Policy reference" | policy guide} explains every field and how machine policies cap the app's.
 *
 * @since 0.1.0
 */
export interface KeyStorePolicy {
  /** JSON Schema reference, ignored. */
  $schema?: string;
  /** The isolation floor (default `os-isolated`). */
  minimumIsolation?: IsolationLevel;
  /** Which providers may serve, and in which order they are preferred. */
  providers?: {
    /** Only these may serve (default: all). */
    allow?: string[];
    /** These may never serve. */
    deny?: string[];
    /** Try these first, in this order; the rest follow by isolation. */
    prefer?: string[];
  };
  /** Whether legacy CryptoAPI providers may serve (default `deny`). */
  legacyCryptoApi?: 'allow' | 'deny';
  /** Exportable private keys (default: neither). */
  exportable?: {
    /** Whether keys may be created exportable. */
    create?: boolean;
    /** Whether private keys may be exported. */
    export?: boolean;
  };
  /** Algorithms keys may be created with (default: all). */
  allowedAlgorithms?: KeyAlgorithm[];
  /** The smallest RSA modulus in bits (default 2048). */
  minimumRsaBits?: number;
  /** Scopes keys may live in (default: both). */
  allowedScopes?: KeyScope[];
  /**
   * PKCS#11 modules the machine's owners vouch for. Only the machine policy file at the fixed path
   * and the registry may hold this section: an app policy, or the file `KEYSTORE_MACHINE_POLICY`
   * names, that declares a module is refused (a declaration raises a key's isolation, and those
   * sources may only tighten).
   *
   * @since 0.3.0
   */
  pkcs11?: {
    /** The modules, each with the isolation level its keys get. */
    modules?: Pkcs11ModuleDeclaration[];
  };
}

/**
 * One PKCS#11 module in the machine policy, and the isolation level the platform team vouches for:
 * software cannot measure what is behind a module, so this is a declaration, and receipts say so.
 *
 * @since 0.3.0
 */
export interface Pkcs11ModuleDeclaration {
  /** The module's absolute path, as the provider is configured with it (compared after resolving links). */
  path: string;
  /** Only the token with this label; every token of the module when omitted. */
  tokenLabel?: string;
  /** The level its keys get (e.g. `hardware` for a network HSM's module). */
  isolation: IsolationLevel;
}

/**
 * A PKCS#11 module declaration in the effective policy, with the machine source that declared it.
 *
 * @since 0.3.0
 */
export interface DeclaredPkcs11Module extends Readonly<Pkcs11ModuleDeclaration> {
  /** The machine source that declared it: the fixed-path file (`machine`) or the registry. */
  readonly source: MachinePolicySource;
}

/**
 * Where an effective field's value came from: the built-in defaults, the app's policy, the machine
 * policy file at the fixed path (`machine`), the additional machine policy file named by
 * `KEYSTORE_MACHINE_POLICY` (`machine-env`, since 0.3.0), or (on Windows, since 0.2.0) the machine
 * policy in the registry (`HKLM\SOFTWARE\Policies\keystore`).
 *
 * @since 0.1.0
 */
export type PolicySource = 'default' | 'app' | MachinePolicySource;

/**
 * One of the machine policy sources, every one of which caps the app: the file at the fixed path
 * (`machine`), the additional file `KEYSTORE_MACHINE_POLICY` names (`machine-env`), the registry key
 * on Windows (`registry`).
 *
 * @since 0.3.0
 */
export type MachinePolicySource = 'machine' | 'machine-env' | 'registry';

/**
 * A machine policy source that was replaced or dropped, which only the test hatch of
 * `@keystore/core/testing` can do: recorded in {@link EffectivePolicy.overrides}, shown by
 * `explain()` and `keystore doctor`, and published as a `policy.override` audit event.
 *
 * @since 0.3.0
 */
export interface PolicyOverride {
  /** The machine source that was overridden. */
  readonly source: MachinePolicySource;
  /** How: an option given in code, or the environment. */
  readonly by: 'option' | 'environment';
  /** The option's name (e.g. `machinePolicy`), or the environment variable's. */
  readonly name: string;
  /** What the override does, one sentence. */
  readonly detail: string;
}

/**
 * The effective policy: every field filled in.
 *
 * @since 0.1.0
 */
export interface ResolvedPolicy {
  readonly minimumIsolation: IsolationLevel;
  readonly providers: {
    /** `null` means every provider. */
    readonly allow: readonly string[] | null;
    readonly deny: readonly string[];
    readonly prefer: readonly string[];
  };
  readonly legacyCryptoApi: 'allow' | 'deny';
  readonly exportable: { readonly create: boolean; readonly export: boolean };
  readonly allowedAlgorithms: readonly KeyAlgorithm[];
  readonly minimumRsaBits: number;
  readonly allowedScopes: readonly KeyScope[];
  /**
   * The PKCS#11 modules the machine policy declares (empty when none; only the machine policy file
   * at the fixed path and the registry may declare one).
   *
   * @since 0.3.0
   */
  readonly pkcs11Modules?: readonly DeclaredPkcs11Module[];
}

/**
 * The effective policy with the source of each field (keyed by JSON pointer, e.g. `/providers/allow`),
 * the machine policy's file when one was read, and the registry key when a machine policy was read
 * from the registry.
 *
 * @since 0.1.0
 */
export interface EffectivePolicy extends ResolvedPolicy {
  /** Source of each field, keyed by JSON pointer. */
  readonly sources: Readonly<Record<string, PolicySource>>;
  /**
   * The machine policy file at the fixed path that was read (`/etc/keystore/policy.json`,
   * `%ProgramData%\keystore\policy.json`), or `null` when there is none.
   */
  readonly machinePolicyPath: string | null;
  /**
   * The additional machine policy file named by `KEYSTORE_MACHINE_POLICY` that was read, or `null`.
   *
   * @since 0.3.0
   */
  readonly machineEnvPolicyPath: string | null;
  /**
   * The registry key a machine policy was read from (`HKLM\SOFTWARE\Policies\keystore`), or
   * `null` when none was (not Windows, no such key, or none asked for).
   *
   * @since 0.2.0
   */
  readonly registryPolicyKey: string | null;
  /**
   * The machine policy sources that were replaced or dropped (only the test hatch of
   * `@keystore/core/testing` can); empty in production.
   *
   * @since 0.3.0
   */
  readonly overrides: readonly PolicyOverride[];
}
