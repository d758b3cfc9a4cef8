/**
 * The CSR example: a PKCS#10 certificate signing request for a new key, signed by the key where it
 * lives (the TPM), written to a new file (mode 0600) or printed, for a CA to issue a certificate from.
 *
 * Run it against a simulator from the repository root:
 *
 * ```sh
 * eval "$(bash scripts/swtpm.sh start)"   # prints export TSS2_FAPICONF=… TPM_SIM_PORT=…
 * npm run build && node examples/csr/dist/main.js --host device.example --out device.csr
 * openssl req -in device.csr -verify -noout -text
 * ```
 *
 * `--memory` uses the in-memory provider instead (development only).
 */
import { constants } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createKeyStore, type KeyStore, KeyStoreError } from '@keystore/core';
import { createMemoryProvider } from '@keystore/core/testing';
import { tpmProvider } from '@keystore/provider-tpm';
import { createCsr } from '@keystore/x509';

/** What the command line asks for. */
export interface CsrExampleOptions {
  /** Use the in-memory provider (development only) instead of the TPM. */
  memory?: boolean;
  /** The host name: the subject's CN and the one DNS subject alternative name. */
  host?: string;
  /** A new file for the PEM; without it the PEM is printed. An existing file is never overwritten. */
  out?: string;
  /** Keep the key after the CSR is made (the certificate the CA issues is for this key). */
  keep?: boolean;
}

export const USAGE = `Usage: node dist/main.js [--host NAME] [--out FILE] [--keep] [--memory]

  --host NAME  the host the CSR names (subject CN=NAME, DNS NAME); default device.example
  --out FILE   write the PEM to FILE, a new file with mode 0600 (an existing one is refused);
               without it the PEM is printed
  --keep       keep the key (the certificate your CA issues is for it); deleted otherwise
  --memory     the in-memory provider instead of the TPM (development only)`;

/** A command-line mistake: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** Reads the command line; throws {@link UsageError} on anything it does not know. */
export function parseCommandLine(args: readonly string[]): CsrExampleOptions {
  let values: { memory?: boolean; keep?: boolean; host?: string; out?: string };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        memory: { type: 'boolean' },
        keep: { type: 'boolean' },
        host: { type: 'string' },
        out: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return values;
}

// A DNS name of letter-digit-hyphen labels: it becomes the subject's CN as well, where a comma, an
// equals sign or a plus would add attributes of its own.
const HOST = /^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/;

/** Creates `path` for writing: new only (never through a symbolic link), owner read/write only. */
async function createOutput(path: string): Promise<FileHandle> {
  const flags =
    constants.O_CREAT |
    constants.O_EXCL |
    constants.O_WRONLY |
    ((constants as { O_NOFOLLOW?: number }).O_NOFOLLOW ?? 0);
  try {
    return await open(path, flags, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'EEXIST' || code === 'ELOOP' ? 'it exists; not overwriting it' : String(error);
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `cannot write ${path}: ${reason}`, {
      cause: error,
      hint: 'name a new file with --out, or leave --out out to print the CSR',
    });
  }
}

/** A store on the TPM (the floor lowered to in-process on a simulator, and said so), or in memory. */
async function openStore(memory: boolean, log: (line: string) => void): Promise<KeyStore | undefined> {
  if (memory) {
    log('NOTE: the in-memory provider keeps the key in JavaScript memory; for development only.');
    return createKeyStore({ providers: [createMemoryProvider()], policy: { minimumIsolation: 'none' } });
  }
  const provider = tpmProvider(); // FAPI config from TSS2_FAPICONF
  const probe = await provider.probe();
  if (!probe.available) {
    log(`The TPM provider is unavailable: ${probe.reasons.join(' ')}`);
    log('Start a simulator with: eval "$(bash scripts/swtpm.sh start)", or run with --memory');
    await provider.close();
    return undefined;
  }
  const simulator = probe.details?.simulator === true;
  if (simulator) log('NOTE: this is a simulated TPM; its keys are reported as in-process, not hardware.');
  return createKeyStore({
    providers: [provider],
    policy: { minimumIsolation: simulator ? 'in-process' : 'hardware', providers: { allow: ['tpm'] } },
  });
}

/** Runs the example, writing what happens to `log`. Returns true when the CSR was made. */
export async function main(
  options: CsrExampleOptions = {},
  log: (line: string) => void = console.log,
): Promise<boolean> {
  const host = options.host ?? 'device.example';
  if (!HOST.test(host)) throw new UsageError(`--host ${JSON.stringify(host)} is not a DNS name`);
  // The file first: a name that is taken is refused before a key is made for nothing.
  const out = options.out === undefined ? undefined : resolve(options.out);
  const file = out === undefined ? undefined : await createOutput(out);
  let written = false;
  try {
    const store = await openStore(options.memory === true, log);
    if (store === undefined) return false;
    const name = `example-csr-${process.pid}-${Date.now()}`;
    let kept: string | undefined;
    try {
      // Begin example
      await using key = await store.createKey(name, { algorithm: 'ECDSA-P256' });
      log(`Created ${key.ref} (isolation: ${key.isolation.level})`);
      const csr = await createCsr(key, {
        subject: `CN=${host}`,
        subjectAltNames: [`dns:${host}`],
        keyUsages: ['digitalSignature'],
        extendedKeyUsages: ['serverAuth', 'clientAuth'],
      });
      // End example
      log(`CSR for CN=${host}, DNS ${host}, key usage digitalSignature, signed by the key`);
      if (file === undefined) log(csr.pem.trimEnd());
      else {
        await file.writeFile(csr.pem);
        written = true;
        log(`Wrote the CSR to ${out} (mode 0600)`);
        log(`Check it with: openssl req -in ${out} -verify -noout -text`);
      }
      if (options.keep === true) kept = key.ref;
      return true;
    } finally {
      if (kept !== undefined && options.memory)
        log('NOTE: --keep with --memory keeps nothing: the key ends with this process.');
      else if (kept !== undefined) log(`Kept the key ${kept}; delete it with: keystore keys delete ${kept}`);
      else {
        await store.deleteKey(name).catch(() => undefined);
        log('Deleted the key');
      }
      await store.close();
    }
  } finally {
    if (file !== undefined) {
      await file.close();
      // A CSR half written, or none, must not stay behind under the name asked for.
      if (!written && out !== undefined) await unlink(out).catch(() => undefined);
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  Promise.resolve()
    .then(() => main(parseCommandLine(process.argv.slice(2))))
    .then(
      (ok) => {
        process.exitCode = ok ? 0 : 1;
      },
      (error: unknown) => {
        if (error instanceof UsageError) {
          console.error(`${error.message}\n\n${USAGE}`);
          process.exitCode = 2;
        } else if (KeyStoreError.is(error)) {
          console.error(`${error.code}: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ''}`);
          process.exitCode = 1;
        } else {
          console.error(error);
          process.exitCode = 1;
        }
      },
    );
}
