/**
 * docs/providers/cng.md shows the capability table the provider answers with: the table under
 * "## Capabilities" must list exactly the fields and values of CNG_CAPABILITIES.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CNG_CAPABILITIES, CngProvider } from '../src/index.js';

const page = readFileSync(fileURLToPath(new URL('../../../docs/providers/cng.md', import.meta.url)), 'utf8');

/** The rows of the first table after `heading`, as cells (escaped pipes kept inside cells). */
function tableAfter(heading: string): string[][] {
  const lines = page.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) throw new Error(`no "${heading}" in docs/providers/cng.md`);
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

describe('docs/providers/cng.md', () => {
  it('its capability table matches CNG_CAPABILITIES, field by field', () => {
    const documented: Record<string, unknown> = {};
    for (const [field, value] of tableAfter('## Capabilities')) {
      documented[(field ?? '').replace(/`/g, '')] = parseValue(value ?? '');
    }
    const actual = Object.fromEntries(
      Object.entries(CNG_CAPABILITIES).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]),
    );
    expect(documented).toEqual(actual);
  });

  it('the provider answers with that table', () => {
    expect(new CngProvider().capabilities).toBe(CNG_CAPABILITIES);
  });
});
