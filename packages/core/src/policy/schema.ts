/**
 * The JSON Schema of a policy document.
 *
 * @module
 */
import { KEY_ALGORITHMS, KEY_SCOPES } from '../algorithms.js';
import { ISOLATION_LEVELS } from '../isolation.js';
import { deepFreeze } from './util.js';

/** Pattern every provider id in a policy must match: letters, digits, `.`, `_`, `-`, not starting with a symbol. */
export const PROVIDER_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';

/** Pattern of a declared PKCS#11 module path: absolute on POSIX (`/…`) or Windows (`C:\…`). */
export const PKCS11_PATH_PATTERN = '^(/|[A-Za-z]:[\\\\/])';

/** The smallest value `minimumRsaBits` accepts. */
export const MINIMUM_RSA_BITS_LOWER_BOUND = 1024;

const providerList = (title: string, description: string) =>
  ({
    title,
    description,
    type: 'array',
    uniqueItems: true,
    items: {
      type: 'string',
      pattern: PROVIDER_ID_PATTERN,
      description: 'A provider id, e.g. `cng`, `tpm`, `capi`, `memory`.',
    },
  }) as const;

/**
 * The JSON Schema (draft 2020-12) of a {@link KeyStorePolicy} document. The package ships the same
 * content as `@keystore/core/policy.schema.json`, so editors can complete and check policy files
 * (`"$schema"` pointing at that file). {@link validatePolicy} implements exactly this schema by hand.
 * The documentation site publishes the file at `schema/policy.schema.json`; the
 * {@link "Policy reference" | policy guide} explains each field.
 *
 * @example
 * ```ts
 * import { POLICY_SCHEMA } from '@keystore/core';
 * POLICY_SCHEMA.properties.minimumIsolation.enum; // ['none', 'in-process', …, 'hardware']
 * ```
 * @since 0.1.0
 */
export const POLICY_SCHEMA = deepFreeze({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:keystore:policy:v1',
  title: 'keystore policy',
  description:
    'Which key stores may hold private keys and under which rules. Every field is optional; omitted fields take the built-in defaults. A machine policy is a ceiling: for every field the effective value is the stricter of the app policy and the machine policy. On Windows the machine policy can also be set in the registry under HKLM\\SOFTWARE\\Policies\\keystore, either as one REG_SZ value named Policy holding this JSON document, or as one value per field: MinimumIsolation and LegacyCryptoApi (REG_SZ); ProvidersAllow, ProvidersDeny, ProvidersPrefer, AllowedAlgorithms and AllowedScopes (REG_MULTI_SZ); MinimumRsaBits (REG_DWORD); ExportableCreate and ExportableExport (REG_DWORD, 0 or 1). The file and the registry both apply.',
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: {
      description: 'A reference to this schema, for editors; ignored by keystore.',
      type: 'string',
    },
    minimumIsolation: {
      title: 'Isolation floor',
      description:
        'The weakest isolation a key may get, from weakest to strongest: none, in-process, os-isolated, os-protected, virtualization, hardware. Default: os-isolated.',
      type: 'string',
      enum: [...ISOLATION_LEVELS],
    },
    providers: {
      title: 'Providers',
      description: 'Which providers may serve, and in which order they are tried.',
      type: 'object',
      additionalProperties: false,
      properties: {
        allow: providerList('Allowed providers', 'Only these providers may serve. Default: every provider.'),
        deny: providerList('Denied providers', 'These providers may never serve; deny wins over allow. Default: none.'),
        prefer: providerList(
          'Preferred providers',
          'Try these first, in this order; the others follow, strongest isolation first. Default: none.',
        ),
      },
    },
    legacyCryptoApi: {
      title: 'Legacy CryptoAPI',
      description: 'Whether legacy CryptoAPI providers (keys held inside the app process) may serve. Default: deny.',
      type: 'string',
      enum: ['allow', 'deny'],
    },
    exportable: {
      title: 'Exportable private keys',
      description: 'Whether private keys may leave the key store. Default: neither.',
      type: 'object',
      additionalProperties: false,
      properties: {
        create: { description: 'Whether keys may be created exportable. Default: false.', type: 'boolean' },
        export: { description: 'Whether private keys may be exported. Default: false.', type: 'boolean' },
      },
    },
    allowedAlgorithms: {
      title: 'Allowed algorithms',
      description: 'Algorithms keys may be created with. Default: all.',
      type: 'array',
      uniqueItems: true,
      items: { type: 'string', enum: [...KEY_ALGORITHMS] },
    },
    minimumRsaBits: {
      title: 'Smallest RSA modulus',
      description:
        'The smallest RSA key size in bits; an RSA-N algorithm is allowed when N is at least this. An integer of at least 1024. Default: 2048.',
      type: 'integer',
      minimum: MINIMUM_RSA_BITS_LOWER_BOUND,
    },
    allowedScopes: {
      title: 'Allowed scopes',
      description: 'Scopes keys may live in: the current user, the machine. Default: both.',
      type: 'array',
      uniqueItems: true,
      items: { type: 'string', enum: [...KEY_SCOPES] },
    },
    pkcs11: {
      title: 'PKCS#11',
      description:
        'PKCS#11 modules (HSMs, smart cards) the machine owners vouch for. Honoured only in the machine policy file at the fixed path and in the registry: an app policy, or the file KEYSTORE_MACHINE_POLICY names, that declares a module is refused.',
      type: 'object',
      additionalProperties: false,
      properties: {
        modules: {
          title: 'Declared modules',
          description:
            'Each module, by absolute path (and optionally one token label), with the isolation level its keys get. Software cannot measure what is behind a module: receipts say the level was declared by the machine policy. An undeclared module is in-process.',
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['path', 'isolation'],
            properties: {
              path: {
                description: 'The absolute path of the module (/usr/lib/…/libxyz.so, C:\\Program Files\\…\\xyz.dll).',
                type: 'string',
                pattern: PKCS11_PATH_PATTERN,
              },
              tokenLabel: {
                description: 'Only the token with this label (1 to 32 characters). Default: every token of the module.',
                type: 'string',
                minLength: 1,
                maxLength: 32,
              },
              isolation: {
                description: 'The level the platform team vouches for, e.g. hardware for a network HSM.',
                type: 'string',
                enum: [...ISOLATION_LEVELS],
              },
            },
          },
        },
      },
    },
  },
} as const);
