/**
 * docs/providers/capi.md shows the capability table the provider answers with: the table under
 * "## Capabilities" must list exactly the fields and values of CAPI_CAPABILITIES. The page's name
 * rules are the ones the code enforces.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CAPI_CAPABILITIES, CapiProvider, LEGACY_CRYPTOAPI_WARNING_CODE, MAX_KEY_NAME_LENGTH } from '../src/index.js';

const page = readFileSync(fileURLToPath(new URL('../../../docs/providers/capi.md', import.meta.url)), 'utf8');

/** The rows of the first table after `heading`, as cells (escaped pipes kept inside cells). */
function tableAfter(heading: string): string[][] {
  const lines = page.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) throw new Error(`no "${heading}" in docs/providers/capi.md`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('## ')) break;
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line
      .slice(1, line.endsWith('|') ? -1 : undefined)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
    if (cells.every((c) => /^-+$/.test(c))) continue;
    rows.push(cells);
  }
  return rows.slice(1); // without the header row
}

function parseValue(cell: string): boolean | string[] {
  if (cell === 'yes') return true;
  if (cell === 'no') return false;
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
}

describe('docs/providers/capi.md', () => {
  it('its capability table matches CAPI_CAPABILITIES, field by field', () => {
    const documented: Record<string, unknown> = {};
    for (const [field, value] of tableAfter('## Capabilities')) {
      documented[(field ?? '').replace(/`/g, '')] = parseValue(value ?? '');
    }
    const actual = Object.fromEntries(
      Object.entries(CAPI_CAPABILITIES).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]),
    );
    expect(documented).toEqual(actual);
  });

  it('the provider answers with that table', () => {
    expect(new CapiProvider({ machinePolicy: null, registryPolicy: null }).capabilities).toBe(CAPI_CAPABILITIES);
  });

  it('names the warning code and the name rule the code uses', () => {
    expect(page).toContain(LEGACY_CRYPTOAPI_WARNING_CODE);
    expect(page).toContain(`1 to ${MAX_KEY_NAME_LENGTH} characters from \`A-Z a-z 0-9 . _ -\``);
  });
});
