/**
 * Reading the tables of the docs pages, so that tests can hold a page to the code it describes
 * (a provider page's capability table against the capabilities the provider answers with).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The text of a page, by its path from the repository root (e.g. `docs/providers/cng.md`). */
export function readPage(path: string): string {
  return readFileSync(`${repoRoot}${path}`, 'utf8');
}

/** The rows of the first table after `heading` in `page`, as cells (escaped pipes kept inside cells), without the header row. */
export function tableAfter(page: string, heading: string): string[][] {
  const lines = page.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) throw new Error(`no "${heading}" in the page`);
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
  return rows.slice(1);
}

/**
 * The capability table under `## Capabilities` as data: the first cell names the field (backticks
 * dropped), the second holds `yes`, `no`, or the values in backticks.
 */
export function documentedCapabilities(page: string): Record<string, boolean | string[]> {
  const documented: Record<string, boolean | string[]> = {};
  for (const [field, value] of tableAfter(page, '## Capabilities')) {
    const cell = value ?? '';
    documented[(field ?? '').replace(/`/g, '')] =
      cell === 'yes' ? true : cell === 'no' ? false : [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
  }
  return documented;
}

/** A capabilities object as plain data, comparable with {@link documentedCapabilities}. */
export function capabilitiesAsData(capabilities: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(capabilities).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]));
}
