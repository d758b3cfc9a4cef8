/**
 * The command table: names, options, positional arguments and help text of every command. Handlers are
 * loaded only when their command runs, so `keystore --help` stays fast.
 *
 * @module
 */
import { certCommands } from './cert-commands.js';
import { certStoreCommands } from './certstore-commands.js';
import { DOCTOR_CHOICES, DOCTOR_HELP, DOCTOR_OPTIONS, fleetCommands } from './fleet-commands.js';
import type { CliIo } from './io.js';

/** One option, as `node:util` `parseArgs` takes it. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
}

/** Parsed arguments handed to a handler. */
export interface CommandContext {
  readonly io: CliIo;
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
  readonly json: boolean;
}

/** A runnable command. */
export interface CommandSpec {
  readonly path: readonly string[];
  readonly summary: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Fewest and most positional arguments (`Infinity` for no limit). */
  readonly positionals: { readonly min: number; readonly max: number; readonly names: string };
  /** Options that must be given. */
  readonly required?: readonly string[];
  /** Allowed values of options with a closed set. */
  readonly choices?: Readonly<Record<string, readonly string[]>>;
  readonly help: string;
  readonly handler: () => Promise<(ctx: CommandContext) => Promise<number>>;
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;
const JSON_OPTION = { json: { type: 'boolean' } } as const;
const STORE_OPTIONS = {
  policy: { type: 'string' },
  provider: { type: 'string' },
  scope: { type: 'string' },
  ...JSON_OPTION,
  ...HELP_OPTION,
} as const;

const SCOPES = ['user', 'machine'] as const;
const SIGN_HASHES = ['sha256', 'sha384', 'sha512'] as const;
const OAEP_HASHES = ['sha1', 'sha256', 'sha384', 'sha512'] as const;
const PADDINGS = ['pkcs1', 'pss'] as const;
const ENCODINGS = ['der', 'ieee-p1363'] as const;
const FORMATS = ['pem', 'der', 'jwk'] as const;
/** The algorithm identifiers (kept here so `--help` does not load the SDK). */
export const ALGORITHMS = [
  'RSA-2048',
  'RSA-3072',
  'RSA-4096',
  'ECDSA-P256',
  'ECDSA-P384',
  'ECDSA-P521',
  'ECDH-P256',
  'ECDH-P384',
  'ECDH-P521',
] as const;

const STORE_HELP = `  --policy FILE      app policy (JSON); the machine policy still caps it
  --provider ID      use only this provider; 'memory' adds the in-memory provider, whose keys live in
                     this one process and vanish when the command exits
  --scope SCOPE      user (default) or machine
  --json             machine-readable output on stdout (errors too, as {"error": {...}})
  -h, --help         show this help`;

/** How every --out FILE is written (see files.ts). */
const OUT_NOTE = `FILE is created with mode 0600 (owner only) and never through a symbolic link; an existing FILE is
refused (exit 7, ERR_OUTPUT) unless --force.`;

const SIGN_OPTIONS_HELP = `  --hash HASH        sha256 (default), sha384 or sha512
  --padding PADDING  RSA keys: pkcs1 (default, PKCS#1 v1.5) or pss (salt length = digest length)
  --encoding ENC     ECDSA keys: der (default, ASN.1 as openssl and node:crypto expect) or ieee-p1363 (r||s)`;

const keys = () => import('./commands/keys.js');

/** Every command, in the order `keystore --help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    path: ['doctor'],
    summary: 'show providers, their isolation, the effective policy and which provider would serve',
    options: { ...STORE_OPTIONS, ...DOCTOR_OPTIONS },
    positionals: { min: 0, max: 0, names: '' },
    choices: { scope: SCOPES, ...DOCTOR_CHOICES },
    help: `Usage: keystore doctor [--policy FILE] [--provider ID] [--scope user|machine] [--require LEVEL] [--json]

Shows the platform and Node.js version; every installed provider (@keystore/provider-* packages, plus
'memory' with --provider memory) with its availability, the isolation it can achieve here, whether it
qualifies under the policy, and why (a provider the policy's provider rules refuse is shown as
'installed, disabled by policy', with the rule and who set it); the machine's posture as providers
measure it (LSA protection, virtualization-based security, TPM, Windows build, Wine) and the isolation
each provider can reach now; the effective policy with the source of each field (default, app, machine
file, registry); and which provider a default request would get. The default request names no algorithm
(selection then ignores algorithms), uses the user scope, and is not exportable. A provider package that
fails to load is listed as unavailable, with the load error as its reason; a provider the policy's
provider rules refuse is not imported at all. For each provider it shows the package, version and
directory it was loaded from: only packages installed beside the CLI (resolvable from its own
installation) are loaded, never from the working directory or a directory named by the environment.
It warns when TSS2_LOG asks tpm2-tss for trace or debug logs, which print TPM auth values.

Options:
${STORE_HELP}
${DOCTOR_HELP}

Exit codes: 0 when some provider satisfies the policy (and, with --require, reaches LEVEL), 3 when none
does, 8 when one does but below the --require LEVEL, 1 for an invalid --policy file.

JSON (the doctor schema, schema/doctor.schema.json on the docs site; in the CLI package):
      { schemaVersion, platform, arch, node, providers: [{ id, displayName, package, packagePath, version, available,
        isolation, selected, eligible, rank, status, policyReasons, reasons, details }], warnings: [TEXT], posture: { facts: [{ key, label, value,
        text, providerId }], isolation: [{ id, available, isolation, status }] }, policy, sources,
        machinePolicyPath, machineEnvPolicyPath, registryPolicyKey, policyOverrides, request, selected }`,
    handler: () => import('./commands/doctor.js').then((m) => m.doctor),
  },
  {
    path: ['policy', 'check'],
    summary: 'validate a policy document',
    options: { ...JSON_OPTION, ...HELP_OPTION },
    positionals: { min: 1, max: 1, names: 'FILE' },
    help: `Usage: keystore policy check FILE [--json]

Validates a policy document against the policy schema. Each problem is printed as 'POINTER: MESSAGE',
where POINTER is the JSON pointer of the bad field ('(document)' for the whole document).

Options:
  --json             print { valid, file, issues: [{ pointer, message }] }
  -h, --help         show this help

Exit codes: 0 valid, 1 invalid (or unreadable).`,
    handler: () => import('./commands/policy.js').then((m) => m.check),
  },
  {
    path: ['policy', 'effective'],
    summary: "show the merged policy (defaults, app, machine) and each field's source",
    options: { policy: { type: 'string' }, ...JSON_OPTION, ...HELP_OPTION },
    positionals: { min: 0, max: 0, names: '' },
    help: `Usage: keystore policy effective [--policy FILE] [--json]

Merges the built-in defaults, the app policy (--policy) and every machine policy: /etc/keystore/policy.json
(%ProgramData%\\keystore\\policy.json on Windows, and there also the registry key
HKLM\\SOFTWARE\\Policies\\keystore), and the additional file KEYSTORE_MACHINE_POLICY names. Each machine
policy is a ceiling: every field takes the strictest of app, machine files and registry.

Options:
  --policy FILE      app policy (JSON)
  --json             print { policy, sources, machinePolicyPath, machineEnvPolicyPath, registryPolicyKey,
                     overrides }; sources maps each field's JSON pointer to 'default', 'app', 'machine',
                     'machine-env' (the KEYSTORE_MACHINE_POLICY file) or 'registry'
  -h, --help         show this help

Exit codes: 0 ok, 1 invalid policy.`,
    handler: () => import('./commands/policy.js').then((m) => m.effective),
  },
  ...fleetCommands(),
  {
    path: ['keys', 'create'],
    summary: 'create a key with the best provider the policy allows',
    options: { algorithm: { type: 'string' }, exportable: { type: 'boolean' }, ...STORE_OPTIONS },
    positionals: { min: 1, max: 1, names: 'NAME' },
    required: ['algorithm'],
    choices: { scope: SCOPES, algorithm: ALGORITHMS },
    help: `Usage: keystore keys create NAME --algorithm ALG [--provider ID] [--scope user|machine] [--exportable]
                           [--policy FILE] [--json]

Creates a key and prints its reference, provider, algorithm and isolation receipt (the isolation the
provider actually achieved for this key, with its evidence).

Options:
  --algorithm ALG    ${ALGORITHMS.join(', ')}
  --exportable       allow the private key to be exported later (the policy must allow it)
${STORE_HELP}

With --provider memory the key lives in this process only: it is gone when the command exits.

JSON: { ref, name, provider, algorithm, scope, exportable, isolation: { level, providerId, measuredAt,
        evidence }, publicKey (PEM), persistent, warnings }`,
    handler: () => keys().then((m) => m.create),
  },
  {
    path: ['keys', 'list'],
    summary: 'list keys',
    options: STORE_OPTIONS,
    positionals: { min: 0, max: 0, names: '' },
    choices: { scope: SCOPES },
    help: `Usage: keystore keys list [--provider ID] [--scope user|machine] [--policy FILE] [--json]

Lists the keys of every provider the policy allows (or of one, with --provider). A provider that cannot
list its keys does not hide the others': their keys are printed, and each failure is one line on stderr,
'keystore: PROVIDER could not list its keys: MESSAGE (CODE)'.

Options:
${STORE_HELP}

Exit codes: 0 every provider answered; 5 some provider could not list (the keys shown are the others');
with --provider, that provider's error decides as for any command.

JSON: { keys: [{ ref, name, provider, scope, algorithm }], errors: [{ provider, code, message }] }`,
    handler: () => keys().then((m) => m.list),
  },
  {
    path: ['keys', 'delete'],
    summary: 'delete keys',
    options: STORE_OPTIONS,
    positionals: { min: 1, max: Number.POSITIVE_INFINITY, names: 'NAME|REF...' },
    choices: { scope: SCOPES },
    help: `Usage: keystore keys delete NAME|REF... [--provider ID] [--scope user|machine] [--policy FILE] [--json]

Deletes each key, by name or by reference (keystore:<provider>:<scope>:<name>), in order; stops at the
first failure (the keys before it are deleted).

Options:
${STORE_HELP}

JSON: { deleted: [NAME|REF...] }`,
    handler: () => keys().then((m) => m.remove),
  },
  {
    path: ['keys', 'public'],
    summary: 'export a public key (PEM, DER or JWK)',
    options: { format: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' }, ...STORE_OPTIONS },
    positionals: { min: 1, max: 1, names: 'NAME' },
    choices: { scope: SCOPES, format: FORMATS },
    help: `Usage: keystore keys public NAME [--format pem|der|jwk] [--out FILE [--force]] [--provider ID]
                           [--scope user|machine] [--policy FILE] [--json]

Exports the public key: SPKI PEM (default), SPKI DER (binary), or a JWK (JSON).

Options:
  --format FORMAT    pem (default), der or jwk
  --out FILE         write to FILE instead of stdout
  --force            replace FILE if it exists (by renaming a new file over it; a symbolic link
                     there is replaced, never followed)
${STORE_HELP}

${OUT_NOTE}

JSON: { ref, name, provider, algorithm, format, publicKey } (PEM text, JWK object, or base64 DER),
      plus out when --out was given`,
    handler: () => keys().then((m) => m.publicKey),
  },
  {
    path: ['keys', 'sign'],
    summary: 'sign data (raw binary signature)',
    options: {
      in: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      hash: { type: 'string' },
      padding: { type: 'string' },
      encoding: { type: 'string' },
      ...STORE_OPTIONS,
    },
    positionals: { min: 1, max: 1, names: 'NAME' },
    choices: { scope: SCOPES, hash: SIGN_HASHES, padding: PADDINGS, encoding: ENCODINGS },
    help: `Usage: keystore keys sign NAME [--in FILE] [--out FILE [--force]] [--hash sha256|sha384|sha512]
                         [--padding pkcs1|pss] [--encoding der|ieee-p1363] [--provider ID] [--scope user|machine]
                         [--policy FILE] [--json]

Hashes the input and signs it. The signature is written raw (binary). With the defaults,
  openssl dgst -sha256 -verify pub.pem -signature sig data
accepts it (pub.pem from 'keystore keys public NAME').

Options:
  --in FILE          data to sign (default: stdin)
  --out FILE         where to write the signature (default: stdout)
  --force            replace FILE if it exists (by renaming a new file over it; a symbolic link
                     there is replaced, never followed)
${SIGN_OPTIONS_HELP}
${STORE_HELP}

${OUT_NOTE}

JSON: { ref, algorithm, hash, padding, encoding, signature (base64) }, plus out when --out was given`,
    handler: () => keys().then((m) => m.sign),
  },
  {
    path: ['keys', 'verify'],
    summary: 'verify a signature',
    options: {
      signature: { type: 'string' },
      in: { type: 'string' },
      hash: { type: 'string' },
      padding: { type: 'string' },
      encoding: { type: 'string' },
      ...STORE_OPTIONS,
    },
    positionals: { min: 1, max: 1, names: 'NAME' },
    required: ['signature'],
    choices: { scope: SCOPES, hash: SIGN_HASHES, padding: PADDINGS, encoding: ENCODINGS },
    help: `Usage: keystore keys verify NAME --signature FILE [--in FILE] [--hash ...] [--padding ...] [--encoding ...]
                           [--provider ID] [--scope user|machine] [--policy FILE] [--json]

Verifies a raw signature over the input with the key's public key (in software).

Options:
  --signature FILE   the signature (raw binary, as 'keys sign' writes it)
  --in FILE          the signed data (default: stdin)
${SIGN_OPTIONS_HELP}
${STORE_HELP}

Exit codes: 0 valid, 1 invalid.

JSON: { ref, valid }`,
    handler: () => keys().then((m) => m.verify),
  },
  {
    path: ['keys', 'decrypt'],
    summary: 'decrypt RSA-OAEP ciphertext',
    options: {
      in: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      hash: { type: 'string' },
      ...STORE_OPTIONS,
    },
    positionals: { min: 1, max: 1, names: 'NAME' },
    choices: { scope: SCOPES, hash: OAEP_HASHES },
    help: `Usage: keystore keys decrypt NAME [--in FILE] [--out FILE [--force]] [--hash sha1|sha256|sha384|sha512]
                            [--provider ID] [--scope user|machine] [--policy FILE] [--json]

Decrypts RSA-OAEP ciphertext (MGF1 with the same hash, empty label) and writes the plaintext raw.

Options:
  --in FILE          ciphertext (default: stdin)
  --out FILE         where to write the plaintext (default: stdout)
  --force            replace FILE if it exists (by renaming a new file over it; a symbolic link
                     there is replaced, never followed)
  --hash HASH        OAEP hash: sha256 (default), sha1, sha384 or sha512
${STORE_HELP}

${OUT_NOTE}

JSON: { ref, hash, plaintext (base64) }, plus out when --out was given`,
    handler: () => keys().then((m) => m.decrypt),
  },
  ...certCommands({ storeOptions: STORE_OPTIONS, storeHelp: STORE_HELP, outNote: OUT_NOTE, scopes: SCOPES }),
  ...certStoreCommands({ storeOptions: STORE_OPTIONS, storeHelp: STORE_HELP, scopes: SCOPES }),
  {
    path: ['migrate'],
    summary: 'move a legacy CryptoAPI key into a stronger provider (CNG), verified; or list what can move',
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      scan: { type: 'boolean' },
      'delete-source': { type: 'boolean' },
      exportable: { type: 'boolean' },
      'unsafe-allow-weak-target': { type: 'boolean' },
      policy: { type: 'string' },
      scope: { type: 'string' },
      ...JSON_OPTION,
      ...HELP_OPTION,
    },
    positionals: { min: 0, max: 0, names: '' },
    choices: { scope: SCOPES },
    help: `Usage: keystore migrate --from capi:NAME --to cng[:NEWNAME] [--delete-source] [--scope user|machine]
                        [--exportable] [--unsafe-allow-weak-target] [--policy FILE] [--json]
       keystore migrate --scan [--scope user|machine] [--unsafe-allow-weak-target] [--policy FILE] [--json]

Moves a key out of a legacy CryptoAPI container (provider capi, where the key is loaded into the app's
own process) into a provider that isolates it (cng): opens the legacy key, exports its private key,
imports it into the target (not exportable unless --exportable), then opens the new key again from
the target's store by its reference and verifies that key: its public key must equal the source's,
and a signature it makes over a random challenge must verify with the source's public key. Only then,
and only with --delete-source, is the source deleted. If the new key cannot be opened again or fails
the verification, it is deleted (when it is there) and the source is left as it was.

A key created non-exportable cannot be moved (its private key cannot leave CryptoAPI): issue a new key
in CNG and re-enrol it (a new certificate or registration) wherever the old one was used.

Reading the source needs a policy that allows it: legacyCryptoApi allow, an isolation floor no higher
than the legacy provider's (in-process), and exportable.export true, for example with
  --policy migrate-policy.json   holding {"legacyCryptoApi":"allow","minimumIsolation":"in-process",
                                           "exportable":{"export":true}}
A machine policy (file or registry) that denies these must be changed by an administrator; when it
denies legacy CryptoAPI, the legacy provider is not even loaded (exit 5, for --scan too). The new key
is held to the effective floor and to at least os-isolated, whatever --policy lowers for the source.

--scan lists the keys of the legacy providers and says, for each, whether it can move and why not.
When the policy does not let legacy keys be opened (under the defaults: legacyCryptoApi deny), it
only lists the containers (names, and algorithms where the provider's listing gives them) and says
for each that it cannot tell, and which policy would let it; it opens no key. When the policy allows
it (the migration policy above), it opens each key to read whether it is exportable, which loads the
key into this process as any use of a legacy key does; it signs, decrypts and exports nothing.
Targets are judged as the move judges them, with or without --unsafe-allow-weak-target.

Options:
  --from PROVIDER:NAME        the legacy key (or its reference, keystore:capi:user:NAME)
  --to PROVIDER[:NAME]        the target provider, and the new key's name (default: the same name)
  --delete-source             delete the legacy key once the new key is verified
  --exportable                make the new key exportable (the policy must allow exportable.create)
  --unsafe-allow-weak-target  accept a target below os-isolated (still at least the effective floor);
                              with --scan, count such targets as the move would
  --scan                      list legacy keys and whether each can move
  --policy FILE               app policy (JSON); the machine policy still caps it
  --scope SCOPE               user (default) or machine, for the source and the new key
  --json                      machine-readable output on stdout (errors too, as {"error": {...}})
  -h, --help                  show this help

While it runs, each step is announced on stderr when stderr is a terminal (not with --json).

Exit codes: 0 moved (or listed); 3 a provider is not installed or cannot serve; 4 no such legacy key;
5 the policy refuses, the key is not exportable, the name is taken, or the new key could not be
opened again or failed the verification.

JSON: { from: { ref, provider, name, scope, algorithm, isolation }, to: { ref, provider, name, scope,
        algorithm, exportable, isolation }, verified: { publicKeyMatches, signatureVerifies
        (signing keys) or sharedSecretMatches (key-agreement keys) },
        sourceDeleted, sourceDeleteError (when deleting failed), warnings }; from and to also carry publicKey (PEM)
--scan JSON: { keys: [{ ref, provider, name, scope, algorithm, exportable (null: not read), movable,
        targets, reasons }], targets (installed providers that can import keys), policyBlockers }`,
    handler: () => import('./commands/migrate.js').then((m) => m.migrate),
  },
];

/** The command groups (`keystore policy`, `keystore keys`, `keystore certs`). */
export const GROUPS: Readonly<Record<string, string>> = {
  policy: 'check or show policies',
  keys: 'create, list, delete and use keys',
  certs: 'certificates in the Windows certificate store, bound to keys',
};

function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([a]) => a.length)) + 2;
  return rows.map(([a, b]) => `  ${a.padEnd(width)}${b}`).join('\n');
}

/** Help of a command group. */
export function groupHelp(group: string): string {
  const rows = COMMANDS.filter((c) => c.path[0] === group).map(
    (c) => [`${c.path.join(' ')} ${c.positionals.names}`.trimEnd(), c.summary] as const,
  );
  return `Usage: keystore ${group} <command> [options]

Commands:
${table(rows)}

Run 'keystore ${group} <command> --help' for a command's options.`;
}

/** Help of the whole program. */
export function mainHelp(version: string): string {
  const rows = COMMANDS.map((c) => [`${c.path.join(' ')} ${c.positionals.names}`.trimEnd(), c.summary] as const);
  return `keystore ${version}: keep private keys where an attacker can least reach them (OS key isolation, TPM),
under a policy that the machine's owners can only tighten.

Usage: keystore <command> [options]

Commands:
${table([...rows, ['help [COMMAND...]', "show a command's help"]])}

Options:
  -h, --help         show help (every command and group takes it)
  -V, --version      print the version (with --json: { "name", "version" })

Providers are the @keystore/provider-* packages installed beside the CLI (where Node.js finds the CLI's
own dependencies; never the working directory's node_modules). A provider the policy refuses is not
loaded. '--provider memory' adds the in-memory provider: it holds keys in this one process only, so
they vanish when the command exits.

Exit codes:
  0  success (keys verify: the signature is valid; doctor: some provider satisfies the policy)
  1  invalid input: invalid policy, signature does not verify, unreadable file, invalid argument or name
  2  usage error: unknown command or option, missing or extra argument, value not among the choices
  3  no provider satisfies the policy (ERR_KEYSTORE_NO_PROVIDER, ERR_KEYSTORE_PROVIDER_UNAVAILABLE)
  4  key not found (ERR_KEYSTORE_KEY_NOT_FOUND)
  5  any other keystore error (policy violation, access denied, key exists, unsupported algorithm ...)
  6  unexpected internal error
  7  output not delivered (ERR_OUTPUT): --out FILE exists (use --force) or is a symbolic link, a full
     disk, a closed stdout or a reader that went away
  8  doctor --require LEVEL: new keys would get weaker isolation than LEVEL
  130  interrupted (Ctrl-C): the operation was cancelled (ERR_KEYSTORE_CANCELLED)

Errors are one line on stderr, 'keystore: MESSAGE (CODE)' (ERR_KEYSTORE_NO_PROVIDER adds an indented
line per provider), then 'hint: ...' when there is a hint.
With --json the error is also written to stdout as { "error": { code, message, hint } }.

Environment:
  KEYSTORE_MACHINE_POLICY  machine policy file (default /etc/keystore/policy.json;
                           %ProgramData%\\keystore\\policy.json on Windows)
  KEYSTORE_DEBUG=1         print the stack of an error
  TSS2_FAPICONF            FAPI configuration used by the TPM provider (@keystore/provider-tpm)
  TSS2_LOG                 tpm2-tss logging; trace or debug levels print TPM auth values (doctor warns)

Run 'keystore <command> --help' for a command's options.`;
}
