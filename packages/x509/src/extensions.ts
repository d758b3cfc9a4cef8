/**
 * Options into `@peculiar/x509` names and extensions, each checked first with a typed error.
 *
 * @module
 */
import { isIP } from 'node:net';
import { KeyStoreError } from '@keystore/core';
import * as x509 from '@peculiar/x509';

/**
 * A key usage of the X.509 key usage extension (RFC 5280 4.2.1.3).
 *
 * @since 0.1.0
 */
export type CertificateKeyUsage =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign';

/**
 * An extended key usage by name, or any purpose as a dotted OID (`1.3.6.1.5.5.7.3.1`).
 *
 * @since 0.1.0
 */
export type ExtendedKeyUsageName =
  | 'serverAuth'
  | 'clientAuth'
  | 'codeSigning'
  | 'emailProtection'
  | 'timeStamping'
  | 'ocspSigning'
  | (string & {});

/**
 * What names a CSR or certificate carries and what its key is for.
 *
 * @since 0.1.0
 */
export interface NameOptions {
  /** The subject's distinguished name, as `CN=host.example, O=Example`. */
  subject: string;
  /**
   * Subject alternative names, each `type:value` with type `dns`, `ip`, `email` or `uri`
   * (`dns:host.example`, `ip:192.0.2.1`).
   */
  subjectAltNames?: readonly string[];
  /** The key usage extension, marked critical. */
  keyUsages?: readonly CertificateKeyUsage[];
  /** The extended key usage extension. */
  extendedKeyUsages?: readonly ExtendedKeyUsageName[];
}

function invalid(message: string, hint?: string): KeyStoreError {
  return new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', message, hint === undefined ? {} : { hint });
}

const KEY_USAGE_FLAGS: Readonly<Record<CertificateKeyUsage, x509.KeyUsageFlags>> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  nonRepudiation: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
};

const EKU_OIDS: Readonly<Record<string, string>> = {
  serverAuth: x509.ExtendedKeyUsage.serverAuth,
  clientAuth: x509.ExtendedKeyUsage.clientAuth,
  codeSigning: x509.ExtendedKeyUsage.codeSigning,
  emailProtection: x509.ExtendedKeyUsage.emailProtection,
  timeStamping: x509.ExtendedKeyUsage.timeStamping,
  ocspSigning: x509.ExtendedKeyUsage.ocspSigning,
};

const SAN_TYPES: Readonly<Record<string, x509.GeneralNameType>> = { dns: 'dns', ip: 'ip', email: 'email', uri: 'url' };

/** The subject as a checked `Name`. */
export function subjectName(subject: unknown): x509.Name {
  if (typeof subject !== 'string' || subject.trim() === '') {
    throw invalid('subject must be a non-empty distinguished name', 'for example "CN=host.example, O=Example"');
  }
  let name: x509.Name;
  try {
    name = new x509.Name(subject);
  } catch (error) {
    throw new KeyStoreError('ERR_KEYSTORE_INVALID_ARGUMENT', `subject is not a distinguished name: ${subject}`, {
      cause: error,
      hint: 'write it as TYPE=value pairs separated by commas, as "CN=host.example, O=Example"',
    });
  }
  if (name.toJSON().length === 0) {
    throw invalid(
      `subject has no attributes: ${subject}`,
      'write it as TYPE=value pairs, as "CN=host.example, O=Example"',
    );
  }
  return name;
}

function listOf(value: unknown, what: string): readonly unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${what} must be an array`);
  return value;
}

function subjectAltNames(value: unknown): x509.Extension[] {
  const names = listOf(value, 'subjectAltNames').map((entry): x509.JsonGeneralName => {
    const text = typeof entry === 'string' ? entry : '';
    const colon = text.indexOf(':');
    const type = SAN_TYPES[text.slice(0, colon).toLowerCase()];
    const name = text.slice(colon + 1);
    if (colon < 1 || type === undefined || name === '') {
      throw invalid(`subject alternative name ${String(entry)} is not type:value`, 'use dns:, ip:, email: or uri:');
    }
    if (type === 'ip' && isIP(name) === 0) throw invalid(`${name} is not an IP address`);
    return { type, value: name };
  });
  return names.length === 0 ? [] : [new x509.SubjectAlternativeNameExtension(names, false)];
}

function keyUsages(value: unknown): x509.Extension[] {
  const usages = listOf(value, 'keyUsages');
  if (usages.length === 0) return [];
  let flags = 0;
  for (const usage of usages) {
    const flag = KEY_USAGE_FLAGS[usage as CertificateKeyUsage];
    if (typeof usage !== 'string' || !Object.hasOwn(KEY_USAGE_FLAGS, usage) || flag === undefined) {
      throw invalid(`unknown key usage ${String(usage)}`, `use one of ${Object.keys(KEY_USAGE_FLAGS).join(', ')}`);
    }
    flags |= flag;
  }
  return [new x509.KeyUsagesExtension(flags, true)];
}

function extendedKeyUsages(value: unknown): x509.Extension[] {
  const oids = listOf(value, 'extendedKeyUsages').map((usage) => {
    if (typeof usage === 'string' && Object.hasOwn(EKU_OIDS, usage)) return EKU_OIDS[usage] as string;
    if (typeof usage === 'string' && /^[0-2](\.(0|[1-9][0-9]*))+$/.test(usage)) return usage;
    throw invalid(
      `unknown extended key usage ${String(usage)}`,
      `use one of ${Object.keys(EKU_OIDS).join(', ')} or a dotted OID`,
    );
  });
  return oids.length === 0 ? [] : [new x509.ExtendedKeyUsageExtension(oids, false)];
}

/** The extensions that `options` ask for, in a fixed order. */
export function requestedExtensions(options: NameOptions): x509.Extension[] {
  return [
    ...subjectAltNames(options.subjectAltNames),
    ...keyUsages(options.keyUsages),
    ...extendedKeyUsages(options.extendedKeyUsages),
  ];
}
