/**
 * Reading a Windows security descriptor in its SDDL form (owner and DACL) and deciding whether
 * anyone but SYSTEM, Administrators and TrustedInstaller can write the object it protects. Pure: the
 * text comes from {@link WindowsSecurityReader} (see windows-file.ts).
 *
 * SDDL is used rather than the output of `icacls` because it names accounts by SID (or a fixed
 * two-letter alias), never by localized account names, so one parser serves every Windows language.
 *
 * @module
 */

/** The SID of LocalSystem. */
const SYSTEM = 'S-1-5-18';
/** The SID of BUILTIN\Administrators. */
const ADMINISTRATORS = 'S-1-5-32-544';
/** The SID of NT SERVICE\TrustedInstaller (the servicing stack's account). */
const TRUSTED_INSTALLER = 'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464';
/** The SID of OWNER RIGHTS: an ACE for it applies to whoever owns the object. */
const OWNER_RIGHTS = 'S-1-3-4';

/** The accounts that may own and write the machine policy. */
const TRUSTED = new Set([SYSTEM, ADMINISTRATORS, TRUSTED_INSTALLER]);

/**
 * The SDDL SID aliases (from sddl.h) with their SIDs and names, for the verdict and for messages.
 * Aliases of domain-relative accounts (DA, DU, LA …) are kept as aliases: none of them is trusted.
 */
const ALIASES: Readonly<Record<string, { sid?: string; name: string }>> = {
  SY: { sid: SYSTEM, name: 'SYSTEM' },
  BA: { sid: ADMINISTRATORS, name: 'Administrators' },
  OW: { sid: OWNER_RIGHTS, name: 'OWNER RIGHTS' },
  WD: { sid: 'S-1-1-0', name: 'Everyone' },
  AU: { sid: 'S-1-5-11', name: 'Authenticated Users' },
  BU: { sid: 'S-1-5-32-545', name: 'Users' },
  BG: { sid: 'S-1-5-32-546', name: 'Guests' },
  PU: { sid: 'S-1-5-32-547', name: 'Power Users' },
  IU: { sid: 'S-1-5-4', name: 'INTERACTIVE' },
  NU: { sid: 'S-1-5-2', name: 'NETWORK' },
  AN: { sid: 'S-1-5-7', name: 'ANONYMOUS LOGON' },
  CO: { sid: 'S-1-3-0', name: 'CREATOR OWNER' },
  CG: { sid: 'S-1-3-1', name: 'CREATOR GROUP' },
  LS: { sid: 'S-1-5-19', name: 'LOCAL SERVICE' },
  NS: { sid: 'S-1-5-20', name: 'NETWORK SERVICE' },
  PS: { sid: 'S-1-5-10', name: 'SELF' },
  RC: { sid: 'S-1-5-12', name: 'RESTRICTED' },
  AC: { sid: 'S-1-15-2-1', name: 'ALL APPLICATION PACKAGES' },
  BO: { sid: 'S-1-5-32-551', name: 'Backup Operators' },
  SO: { sid: 'S-1-5-32-549', name: 'Server Operators' },
  PO: { sid: 'S-1-5-32-550', name: 'Print Operators' },
  AO: { sid: 'S-1-5-32-548', name: 'Account Operators' },
  RU: { sid: 'S-1-5-32-554', name: 'Pre-Windows 2000 Compatible Access' },
  RD: { sid: 'S-1-5-32-555', name: 'Remote Desktop Users' },
  NO: { sid: 'S-1-5-32-556', name: 'Network Configuration Operators' },
  LA: { name: 'the local Administrator account' },
  LG: { name: 'the local Guest account' },
  DA: { name: 'Domain Admins' },
  DU: { name: 'Domain Users' },
  DG: { name: 'Domain Guests' },
  DC: { name: 'Domain Computers' },
  DD: { name: 'Domain Controllers' },
  EA: { name: 'Enterprise Admins' },
  SA: { name: 'Schema Admins' },
  CA: { name: 'Certificate Publishers' },
  PA: { name: 'Group Policy Creator Owners' },
  RS: { name: 'RAS Servers' },
  ED: { name: 'Enterprise Domain Controllers' },
  WR: { sid: 'S-1-5-33', name: 'WRITE RESTRICTED' },
};

const KNOWN_NAMES: Readonly<Record<string, string>> = {
  [TRUSTED_INSTALLER]: 'TrustedInstaller',
  ...Object.fromEntries(Object.values(ALIASES).flatMap((a) => (a.sid ? [[a.sid, a.name]] : []))),
};

/** The SDDL access-right codes (sddl.h) and their masks. */
const RIGHTS: Readonly<Record<string, number>> = {
  GA: 0x10000000,
  GR: 0x80000000,
  GW: 0x40000000,
  GX: 0x20000000,
  RC: 0x00020000,
  SD: 0x00010000,
  WD: 0x00040000,
  WO: 0x00080000,
  RP: 0x00000010,
  WP: 0x00000020,
  CC: 0x00000001,
  DC: 0x00000002,
  LC: 0x00000004,
  SW: 0x00000008,
  LO: 0x00000080,
  DT: 0x00000040,
  CR: 0x00000100,
  FA: 0x001f01ff,
  FR: 0x00120089,
  FW: 0x00120116,
  FX: 0x001200a0,
  KA: 0x000f003f,
  KR: 0x00020019,
  KW: 0x00020006,
  KX: 0x00020019,
};

/**
 * The rights that only read a file or directory: FILE_READ_DATA / LIST_DIRECTORY (0x1), READ_EA
 * (0x8), EXECUTE / TRAVERSE (0x20), READ_ATTRIBUTES (0x80), READ_CONTROL, SYNCHRONIZE, GENERIC_READ,
 * GENERIC_EXECUTE. Every other right counts as write-type (FILE_WRITE_DATA / ADD_FILE,
 * FILE_APPEND_DATA / ADD_SUBDIRECTORY, WRITE_EA, DELETE_CHILD, WRITE_ATTRIBUTES, DELETE, WRITE_DAC,
 * WRITE_OWNER, GENERIC_WRITE, GENERIC_ALL, ACCESS_SYSTEM_SECURITY, and any bit without a meaning):
 * an allow-list, so that a right this code does not know is refused rather than trusted.
 */
const READ_ONLY = 0x1 | 0x8 | 0x20 | 0x80 | 0x00020000 | 0x00100000 | 0x80000000 | 0x20000000;

/** Names of the write-type bits, for messages. */
const WRITE_BITS: readonly [number, string][] = [
  [0x10000000, 'GENERIC_ALL'],
  [0x40000000, 'GENERIC_WRITE'],
  [0x00000002, 'FILE_WRITE_DATA/ADD_FILE'],
  [0x00000004, 'FILE_APPEND_DATA/ADD_SUBDIRECTORY'],
  [0x00000010, 'FILE_WRITE_EA'],
  [0x00000040, 'FILE_DELETE_CHILD'],
  [0x00000100, 'FILE_WRITE_ATTRIBUTES'],
  [0x00010000, 'DELETE'],
  [0x00040000, 'WRITE_DAC'],
  [0x00080000, 'WRITE_OWNER'],
  [0x01000000, 'ACCESS_SYSTEM_SECURITY'],
];

/** ACE types that grant (the callback and object forms grant too, under their condition or object). */
const ALLOW_TYPES = new Set(['A', 'OA', 'XA', 'ZA']);
/** ACE types that deny: they never grant, so they neither help nor hurt the verdict. */
const DENY_TYPES = new Set(['D', 'OD', 'XD']);
const ACE_FLAGS = new Set(['OI', 'CI', 'NP', 'IO', 'ID', 'SA', 'FA', 'TP', 'CR']);

/**
 * One access-control entry of a DACL, as parsed from SDDL.
 *
 * @internal
 */
interface SddlAce {
  /** `A` (allow), `D` (deny), `OA`, `OD`, `XA`, `XD`, `ZA`. */
  readonly type: string;
  /** Its flags: `OI`, `CI`, `IO`, `ID` (inherited) … */
  readonly flags: readonly string[];
  /** The access mask. */
  readonly mask: number;
  /** The trustee: a SID (`S-1-5-32-545`), aliases resolved where they name a fixed SID. */
  readonly sid: string;
}

/**
 * A security descriptor's owner and DACL. `dacl` is `null` for a NULL DACL, which grants everyone
 * every right.
 *
 * @internal
 */
interface SddlDescriptor {
  /** The owner's SID, aliases resolved where they name a fixed SID. */
  readonly owner: string;
  /** The DACL's entries in order, or `null` for a NULL DACL. */
  readonly dacl: readonly SddlAce[] | null;
}

/**
 * SDDL keystore cannot read with certainty: it fails closed.
 *
 * @internal
 */
export class SddlError extends Error {
  override readonly name = 'SddlError';
}

function resolveSid(text: string): string {
  if (/^S-1-\d+(-\d+)+$/.test(text)) return text;
  // An alias this table does not know (Windows adds some with new releases) is kept as the alias: it
  // can never be SYSTEM, Administrators or TrustedInstaller, which have fixed forms, so it counts as
  // anyone else, which is the closed side.
  if (/^[A-Z]{2}$/.test(text)) return ALIASES[text]?.sid ?? text;
  throw new SddlError(`not a SID: ${JSON.stringify(text)}`);
}

/**
 * A SID in words: `Users (S-1-5-32-545)`.
 *
 * @internal
 */
function describeSid(sid: string): string {
  const known = KNOWN_NAMES[sid] ?? ALIASES[sid]?.name;
  if (known !== undefined) return `${known} (${sid})`;
  return /^[A-Z]{2}$/.test(sid) ? `the account with SDDL alias ${sid}` : sid;
}

function parseRights(text: string): number {
  if (/^0x[0-9a-fA-F]{1,8}$/.test(text)) return Number.parseInt(text.slice(2), 16) >>> 0;
  if (text === '' || text.length % 2 !== 0) throw new SddlError(`access rights ${JSON.stringify(text)}`);
  let mask = 0;
  for (let i = 0; i < text.length; i += 2) {
    const bits = RIGHTS[text.slice(i, i + 2)];
    if (bits === undefined) throw new SddlError(`unknown access right ${JSON.stringify(text.slice(i, i + 2))}`);
    mask = (mask | bits) >>> 0;
  }
  return mask;
}

function parseAce(body: string): SddlAce {
  // type;flags;rights;object guid;inherit object guid;sid[;condition or attribute]
  const fields = body.split(';');
  if (fields.length < 6) throw new SddlError(`an ACE with ${fields.length} fields: (${body})`);
  const [type = '', flagText = '', rights = '', , , sid = ''] = fields;
  if (!ALLOW_TYPES.has(type) && !DENY_TYPES.has(type)) {
    throw new SddlError(`an ACE type a DACL of a file does not hold: ${JSON.stringify(type)}`);
  }
  if (flagText.length % 2 !== 0) throw new SddlError(`ACE flags ${JSON.stringify(flagText)}`);
  const flags: string[] = [];
  for (let i = 0; i < flagText.length; i += 2) {
    const flag = flagText.slice(i, i + 2);
    if (!ACE_FLAGS.has(flag)) throw new SddlError(`unknown ACE flag ${JSON.stringify(flag)}`);
    flags.push(flag);
  }
  return { type, flags, mask: parseRights(rights), sid: resolveSid(sid) };
}

/**
 * Reads the ACEs that start at `text[from]`: `(…)(…)`, minding the parentheses of conditional
 * expressions. Returns their bodies and where the list ends.
 */
function readAces(text: string, from: number): { aces: string[]; end: number } {
  const aces: string[] = [];
  let i = from;
  while (text[i] === '(') {
    let depth = 0;
    const start = i + 1;
    for (; i < text.length; i++) {
      if (text[i] === '(') depth++;
      else if (text[i] === ')' && --depth === 0) break;
    }
    if (depth !== 0) throw new SddlError('unbalanced parentheses in an ACL');
    aces.push(text.slice(start, i));
    i++;
  }
  return { aces, end: i };
}

const SID_TOKEN = /^(S-1-\d+(?:-\d+)+|[A-Z]{2})/;

/**
 * Parses the SDDL of a security descriptor (`O:…G:…D:…`, as `Get-Acl`'s `Sddl` or
 * `ConvertSecurityDescriptorToStringSecurityDescriptor` print it) into its owner and DACL. Strict:
 * a missing owner or DACL part, a part given twice, an unknown right, flag or ACE type, or
 * stray text throws, so that the caller fails closed. The group and any SACL are read past and
 * ignored (they grant nothing).
 *
 * @throws {@link SddlError} for text it cannot read with certainty.
 * @internal
 */
export function parseSddl(sddl: string): SddlDescriptor {
  const text = sddl.trim();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse control characters
  if (/[\u0000-\u001f\s]/.test(text)) throw new SddlError('whitespace or a control character inside the SDDL');
  let owner: string | undefined;
  let dacl: SddlAce[] | null | undefined;
  const seen = new Set<string>();
  let i = 0;
  while (i < text.length) {
    const tag = text.slice(i, i + 2);
    if (!['O:', 'G:', 'D:', 'S:'].includes(tag)) {
      throw new SddlError(`unexpected text at ${i}: ${JSON.stringify(text.slice(i, i + 20))}`);
    }
    if (seen.has(tag)) throw new SddlError(`the ${tag} part appears twice`);
    seen.add(tag);
    i += 2;
    if (tag === 'O:' || tag === 'G:') {
      const sid = SID_TOKEN.exec(text.slice(i))?.[1];
      if (sid === undefined) throw new SddlError(`no SID after ${tag}`);
      if (tag === 'O:') owner = resolveSid(sid);
      i += sid.length;
      continue;
    }
    if (text.startsWith('NO_ACCESS_CONTROL', i)) {
      i += 'NO_ACCESS_CONTROL'.length;
      if (tag === 'D:') dacl = null;
      continue;
    }
    const flags = /^(?:P|AI|AR)*/.exec(text.slice(i))?.[0] ?? '';
    i += flags.length;
    const { aces, end } = readAces(text, i);
    i = end;
    if (tag === 'D:') dacl = aces.map(parseAce);
  }
  if (owner === undefined) throw new SddlError('no owner (O:) in the security descriptor');
  if (dacl === undefined) throw new SddlError('no DACL (D:) in the security descriptor');
  return { owner, dacl };
}

function writeRights(mask: number): string[] {
  const names = WRITE_BITS.filter(([bit]) => (mask & bit) !== 0).map(([, name]) => name);
  const unnamed = (mask & ~READ_ONLY & ~WRITE_BITS.reduce((all, [bit]) => all | bit, 0)) >>> 0;
  if (unnamed !== 0) names.push(`0x${unnamed.toString(16)}`);
  return names;
}

/**
 * What lets an account other than SYSTEM, Administrators and TrustedInstaller write the object a
 * security descriptor protects: an owner outside those three (an owner can always rewrite the DACL),
 * a NULL DACL, or an allow ACE that applies to the object itself (not inherit-only) and grants a
 * write-type right (anything beyond reading, listing and executing) to another SID. Deny ACEs never
 * grant, so they are read past; an `OWNER RIGHTS` ACE counts as the owner's. Empty when only those
 * three can write.
 *
 * @param what - How to name the object in the sentences (`the policy file C:\…`).
 * @throws {@link SddlError} when the SDDL cannot be read with certainty.
 * @internal
 */
export function sddlWriteProblems(sddl: string, what: string): string[] {
  const descriptor = parseSddl(sddl);
  const problems: string[] = [];
  const ownerTrusted = TRUSTED.has(descriptor.owner);
  if (!ownerTrusted) {
    problems.push(
      `${what} is owned by ${describeSid(descriptor.owner)}, not by Administrators, SYSTEM or TrustedInstaller (an owner can always change who may write it)`,
    );
  }
  if (descriptor.dacl === null) {
    problems.push(`${what} has a NULL DACL, which lets everyone write it`);
    return problems;
  }
  for (const ace of descriptor.dacl) {
    if (!ALLOW_TYPES.has(ace.type) || ace.flags.includes('IO')) continue;
    if (TRUSTED.has(ace.sid) || (ace.sid === OWNER_RIGHTS && ownerTrusted)) continue;
    const rights = writeRights(ace.mask);
    if (rights.length === 0) continue;
    const inherited = ace.flags.includes('ID') ? ' (inherited from the folder above)' : '';
    problems.push(`${what} grants ${describeSid(ace.sid)} ${rights.join(', ')}${inherited}`);
  }
  return problems;
}
