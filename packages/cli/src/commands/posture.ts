/**
 * The "Posture" section of `keystore doctor`: the machine's isolation facts that providers report in
 * their probe details (LSA protection, virtualization-based security, TPM, Windows build, Wine), in
 * words, and the isolation each provider can reach now.
 *
 * @module
 */

type DetailValue = string | number | boolean;

/** One posture fact a provider may report in `probe().details`, and how to say it. */
interface PostureKey {
  readonly key: string;
  readonly label: string;
}

/**
 * The probe-detail keys that describe the machine's posture, in the order doctor prints them. A
 * provider reports whichever it can measure; values are booleans (printed yes/no), numbers or text.
 */
const POSTURE_KEYS: readonly PostureKey[] = [
  { key: 'windowsVersion', label: 'Windows version' },
  { key: 'windowsBuild', label: 'Windows build' },
  { key: 'wine', label: 'Running under Wine' },
  { key: 'wineVersion', label: 'Running under Wine' },
  { key: 'lsaProtection', label: 'LSA protection' },
  { key: 'lsaProtectionConfigured', label: 'LSA protection configured (RunAsPPL)' },
  { key: 'runAsPPL', label: 'LSA protection configured (RunAsPPL)' },
  { key: 'lsaProtectionRunning', label: 'LSASS running as a protected process now' },
  { key: 'lsassProtection', label: 'LSASS process protection now' },
  { key: 'lsassIdentifiedBy', label: 'LSASS identified through' },
  { key: 'vbsRunning', label: 'Virtualization-based security running' },
  { key: 'secureKernelRunning', label: 'Virtualization-based security (secure kernel) running' },
  { key: 'credentialGuard', label: 'Credential Guard running' },
  { key: 'trustletRunning', label: 'Isolated LSA (Credential Guard) running' },
  { key: 'hvci', label: 'Memory integrity (HVCI)' },
  { key: 'hvciEnabled', label: 'Memory integrity (HVCI)' },
  { key: 'vbsKeys', label: 'VBS key protection' },
  { key: 'tpmPresent', label: 'TPM present' },
  { key: 'tpmVersion', label: 'TPM version' },
  { key: 'tpm', label: 'TPM' },
];

/** One posture fact, as doctor's JSON `posture.facts` lists it. */
interface PostureFact {
  /** The probe-detail key. */
  key: string;
  /** What it means, in words. */
  label: string;
  /** The value as the provider reported it. */
  value: DetailValue;
  /** The value in words (`yes`/`no` for booleans). */
  text: string;
  /** The provider that reported it. */
  providerId: string;
}

/** One provider's isolation now, as doctor's JSON `posture.isolation` lists it. */
interface PostureIsolation {
  id: string;
  available: boolean;
  /** The isolation it can reach here now (`none` when unavailable). */
  isolation: string;
  /** Its doctor status: `selected`, `eligible`, `disabled-by-policy`, `refused` or `unavailable`. */
  status: string;
}

/** The posture section of doctor's JSON output. */
export interface Posture {
  facts: PostureFact[];
  isolation: PostureIsolation[];
}

function words(value: DetailValue): string {
  if (value === true) return 'yes';
  if (value === false) return 'no';
  return String(value);
}

/** The posture facts in `rows`' details, in {@link POSTURE_KEYS} order, then provider order. */
export function postureFacts(
  rows: readonly { id: string; details: Readonly<Record<string, DetailValue>> }[],
): PostureFact[] {
  const facts: PostureFact[] = [];
  for (const { key, label } of POSTURE_KEYS) {
    for (const row of rows) {
      if (!Object.hasOwn(row.details, key)) continue;
      const value = row.details[key];
      if (value === undefined) continue;
      facts.push({ key, label, value, text: words(value), providerId: row.id });
    }
  }
  return facts;
}

/** The human lines of the posture section. */
export function describePosture(posture: Posture): string[] {
  const lines = ['Posture:'];
  if (posture.facts.length === 0) {
    lines.push('  no provider reports isolation facts about this machine (LSA protection, VBS, TPM …)');
  } else {
    // One line per label; when providers disagree, each value says who reported it.
    const labels = [...new Set(posture.facts.map((f) => f.label))];
    const width = Math.max(...labels.map((l) => l.length)) + 2;
    for (const label of labels) {
      const facts = posture.facts.filter((f) => f.label === label);
      const texts = [...new Set(facts.map((f) => f.text))];
      const shown =
        texts.length === 1
          ? `${texts[0]} (${[...new Set(facts.map((f) => f.providerId))].join(', ')})`
          : facts.map((f) => `${f.text} (${f.providerId})`).join('; ');
      lines.push(`  ${`${label}:`.padEnd(width)}${shown}`);
    }
  }
  if (posture.isolation.length > 0) {
    lines.push('  Isolation each provider can reach here now:');
    const width = Math.max(...posture.isolation.map((p) => p.id.length)) + 2;
    for (const p of posture.isolation) {
      const status = p.status === 'unavailable' ? '' : `(${p.status.replaceAll('-', ' ')})`;
      // Disabled by policy and not available: its package was never imported, so nothing was measured.
      const reach = p.available ? p.isolation : p.status === 'disabled-by-policy' ? 'not loaded' : 'unavailable';
      lines.push(`    ${p.id.padEnd(width)}${reach.padEnd(16)}${status}`.trimEnd());
    }
  }
  return lines;
}
