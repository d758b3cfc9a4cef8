/**
 * The command table rows for platform teams' fleet tooling: `keystore policy admx` (the handler is in
 * `commands/admx.ts`).
 *
 * @module
 */
import type { CommandSpec } from './commands.js';

/** The isolation levels, weakest first (kept here so that `--help` does not load the SDK). */
const REQUIRE_LEVELS = ['none', 'in-process', 'os-isolated', 'os-protected', 'virtualization', 'hardware'] as const;

/** `doctor --require LEVEL`. */
export const DOCTOR_OPTIONS = { require: { type: 'string' } } as const;
export const DOCTOR_CHOICES = { require: REQUIRE_LEVELS } as const;
export const DOCTOR_HELP = `  --require LEVEL    exit 8 unless new keys would get at least LEVEL here (what a default request
                     gets): ${REQUIRE_LEVELS.join(', ')}`;

/** `policy admx`. */
export function fleetCommands(): CommandSpec[] {
  return [
    {
      path: ['policy', 'admx'],
      summary: 'write the Group Policy administrative template (ADMX and ADML) for the registry policy',
      options: {
        out: { type: 'string' },
        force: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      positionals: { min: 0, max: 0, names: '' },
      required: ['out'],
      help: `Usage: keystore policy admx --out DIR [--force] [--json]

Writes DIR/keystore.admx and DIR/en-US/keystore.adml: the administrative template for Group Policy and
Intune (ADMX ingestion), one policy per field of the policy schema under the category 'keystore', each
writing the registry value keystore reads under HKLM\\SOFTWARE\\Policies\\keystore. The template is
generated from the schema this CLI's @keystore/core validates with, so it names exactly the values
that core reads. Copy both into the central store (\\\\DOMAIN\\SYSVOL\\DOMAIN\\Policies\\PolicyDefinitions)
or %SystemRoot%\\PolicyDefinitions. The same files ship in the CLI package, in dist/policy-templates/.

Options:
  --out DIR          the directory to write into (created if missing; en-US/ inside it too)
  --force            replace the files if they exist (by renaming new files over them)
  --json             print { admx, adml, policies: [{ name, pointer, valueType, element }] }
  -h, --help         show this help

Each file is created with mode 0600 (owner only) and never through a symbolic link; an existing file is
refused (exit 7, ERR_OUTPUT) unless --force.

Exit codes: 0 written, 7 a file could not be written.`,
      handler: () => import('./commands/admx.js').then((m) => m.admx),
    },
  ];
}
