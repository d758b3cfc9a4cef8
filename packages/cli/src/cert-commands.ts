/**
 * The command table rows of `keystore keys csr` and `keystore keys cert` (the handlers are in
 * `commands/certs.ts` and load `@keystore/x509` only when they run).
 *
 * @module
 */
import type { CommandSpec, OptionSpec } from './commands.js';

/** What the rows share with the rest of the table (passed in, so that no module imports the other). */
interface SharedCommandParts {
  readonly storeOptions: Readonly<Record<string, OptionSpec>>;
  readonly storeHelp: string;
  readonly outNote: string;
  readonly scopes: readonly string[];
}

const certs = () => import('./commands/certs.js');

const NAME_HELP = `  --subject DN       the subject, as "CN=host.example, O=Example" (required)
  --san NAME         a subject alternative name: dns:HOST, ip:ADDRESS, email:ADDRESS or uri:URI
                     (repeat the option for more)
  --eku PURPOSE      an extended key usage: serverAuth, clientAuth, codeSigning, emailProtection,
                     timeStamping, ocspSigning or a dotted OID (repeat the option for more)
  --hash HASH        SHA-256, SHA-384 or SHA-512 (default: by the key; SHA-256 for RSA keys)
  --padding PADDING  RSA keys: pkcs1 (default) or pss
  --format FORMAT    pem (default) or der
  --out FILE         write to FILE instead of stdout
  --force            replace FILE if it exists (by renaming a new file over it; a symbolic link
                     there is replaced, never followed)`;

const NEEDS_X509 = `Needs @keystore/x509 installed beside the CLI (npm install @keystore/x509); without it the
command says so and exits 5.`;

/** `keys csr` and `keys cert`. */
export function certCommands(shared: SharedCommandParts): CommandSpec[] {
  const options = {
    subject: { type: 'string' },
    san: { type: 'string', multiple: true },
    eku: { type: 'string', multiple: true },
    hash: { type: 'string' },
    padding: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
    ...shared.storeOptions,
  } as const;
  const choices = {
    scope: shared.scopes,
    hash: ['SHA-256', 'SHA-384', 'SHA-512'],
    padding: ['pkcs1', 'pss'],
    format: ['pem', 'der'],
  };
  return [
    {
      path: ['keys', 'csr'],
      summary: 'make a certificate signing request (PKCS#10) signed by a key',
      options,
      positionals: { min: 1, max: 1, names: 'NAME' },
      required: ['subject'],
      choices,
      help: `Usage: keystore keys csr NAME --subject DN [--san NAME]... [--eku PURPOSE]... [--out FILE [--force]]
                        [--format pem|der] [--hash HASH] [--padding pkcs1|pss] [--provider ID]
                        [--scope user|machine] [--policy FILE] [--json]

Makes a PKCS#10 certificate signing request for the key, signed by the key where it lives, with the
alternative names and extended key usages as an extension request. Send it to a CA;
  openssl req -in FILE -verify -noout -text
shows it.

Options:
${NAME_HELP}
${shared.storeHelp}

${shared.outNote}
${NEEDS_X509}

JSON: { ref, subject, format, csr (PEM text or base64 DER) }, plus out when --out was given`,
      handler: () => certs().then((m) => m.csr),
    },
    {
      path: ['keys', 'cert'],
      summary: 'make a self-signed certificate for a key',
      options: { ...options, 'self-signed': { type: 'boolean' }, days: { type: 'string' }, ca: { type: 'boolean' } },
      positionals: { min: 1, max: 1, names: 'NAME' },
      required: ['subject', 'self-signed'],
      choices,
      help: `Usage: keystore keys cert NAME --self-signed --subject DN [--days N] [--san NAME]... [--eku PURPOSE]...
                         [--ca] [--out FILE [--force]] [--format pem|der] [--hash HASH] [--padding pkcs1|pss]
                         [--provider ID] [--scope user|machine] [--policy FILE] [--json]

Makes a self-signed X.509 certificate for the key, signed by the key where it lives: for development,
or (with --ca) the root of a small local CA. Certificates issued by such a CA are made with
createCertificate() of @keystore/x509.

Options:
  --self-signed      required: the certificate is signed by its own key
  --days N           valid from now for N days (default 365)
  --ca               a CA certificate (basic constraints CA:TRUE; key usages keyCertSign, cRLSign)
${NAME_HELP}
${shared.storeHelp}

${shared.outNote}
${NEEDS_X509}

JSON: { ref, subject, format, certificate (PEM text or base64 DER), notAfter }, plus out when --out was given`,
      handler: () => certs().then((m) => m.cert),
    },
  ];
}
