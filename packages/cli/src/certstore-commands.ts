/**
 * The command table rows of `keystore certs list|add|remove`: certificates in the Windows system
 * stores, bound to CNG and TPM keys (the handlers are in `commands/certstore.ts` and load
 * `@keystore/provider-cng/certstore` only when they run).
 *
 * @module
 */
import type { CommandSpec, OptionSpec } from './commands.js';

const certstore = () => import('./commands/certstore.js');

/** What the rows share with the rest of the table (passed in, so that no module imports the other). */
interface CertStoreCommandParts {
  readonly storeOptions: Readonly<Record<string, OptionSpec>>;
  readonly storeHelp: string;
  readonly scopes: readonly string[];
}

const LOCATIONS = ['CurrentUser', 'LocalMachine'] as const;

const WHERE_HELP = `  --store NAME       the system store: My (default, "Personal"), WebHosting, …
  --location WHERE   CurrentUser (default) or LocalMachine (writing needs an administrator)`;

const WINDOWS_NOTE = `Windows only: needs @keystore/provider-cng installed beside the CLI. Elsewhere the command exits 3
(ERR_KEYSTORE_PROVIDER_UNAVAILABLE).`;

/** `certs list`, `certs add` and `certs remove`. */
export function certStoreCommands(shared: CertStoreCommandParts): CommandSpec[] {
  const where = { store: { type: 'string' }, location: { type: 'string' } } as const;
  const json = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;
  return [
    {
      path: ['certs', 'list'],
      summary: 'list the certificates of a Windows store and the key each is bound to',
      options: { ...where, subject: { type: 'string' }, thumbprint: { type: 'string' }, ...json },
      positionals: { min: 0, max: 0, names: '' },
      choices: { location: LOCATIONS },
      help: `Usage: keystore certs list [--store NAME] [--location CurrentUser|LocalMachine] [--subject TEXT]
                          [--thumbprint HEX] [--json]

Lists the certificates of a Windows system store: thumbprint, subject, expiry and the key the store
binds each to (storage provider and key name), or "no key".

Options:
${WHERE_HELP}
  --subject TEXT     only certificates whose subject contains TEXT (case-insensitive)
  --thumbprint HEX   only the certificate with this SHA-1 thumbprint
  --json             machine-readable output on stdout
  -h, --help         show this help

${WINDOWS_NOTE}

JSON: { store, location, certificates: [{ thumbprint, subject, issuer, notAfter, key: { provider,
name, scope } | null }] }`,
      handler: () => certstore().then((m) => m.list),
    },
    {
      path: ['certs', 'add'],
      summary: 'add a certificate to a Windows store, bound to its CNG or TPM key',
      options: { cert: { type: 'string' }, ...where, ...shared.storeOptions },
      positionals: { min: 1, max: 1, names: 'NAME' },
      required: ['cert'],
      choices: { location: LOCATIONS, scope: shared.scopes },
      help: `Usage: keystore certs add NAME --cert FILE [--store NAME] [--location CurrentUser|LocalMachine]
                         [--provider cng|tpm] [--scope user|machine] [--policy FILE] [--json]

Adds the certificate in FILE (PEM or DER; - reads stdin) to a Windows system store, bound to the key
NAME (the store's key provider info names the key's storage provider and name), so Windows programs
(IIS, Schannel, certutil) that take the certificate from the store use the key where it lives. The
certificate must be for that key (the same public key). Adding it again replaces it.

Options:
  --cert FILE        the certificate (required), e.g. from 'keystore keys cert' or a CA
${WHERE_HELP}
${shared.storeHelp}

${WINDOWS_NOTE}

JSON: { ref, store, location, thumbprint, subject, key: { provider, name, scope } }`,
      handler: () => certstore().then((m) => m.add),
    },
    {
      path: ['certs', 'remove'],
      summary: 'remove a certificate from a Windows store (the key stays)',
      options: { ...where, ...json },
      positionals: { min: 1, max: 1, names: 'THUMBPRINT' },
      choices: { location: LOCATIONS },
      help: `Usage: keystore certs remove THUMBPRINT [--store NAME] [--location CurrentUser|LocalMachine] [--json]

Removes the certificate with this SHA-1 thumbprint (40 hex digits, as 'certs list' shows it) from a
Windows system store. The key it was bound to stays; delete it with 'keystore keys delete'. Exits 4
when the store holds no such certificate.

Options:
${WHERE_HELP}
  --json             machine-readable output on stdout
  -h, --help         show this help

${WINDOWS_NOTE}

JSON: { store, location, thumbprint, removed: true }`,
      handler: () => certstore().then((m) => m.remove),
    },
  ];
}
