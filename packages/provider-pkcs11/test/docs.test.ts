/**
 * docs/providers/pkcs11.md shows the capability table the provider answers with: the table under
 * "## Capabilities" must list exactly the fields and values of PKCS11_CAPABILITIES. The page's
 * environment variables are the ones the CLI's provider reads, and the policy examples of the page and
 * of the "Many machines, one key" guide are valid policies. No token is needed: nothing here loads a
 * module.
 */
import { validatePolicy } from '@keystore/core';
import { describe, expect, it } from 'vitest';
import { capabilitiesAsData, documentedCapabilities, readPage } from '../../../test-support/docs-tables.js';
import { PKCS11_CAPABILITIES, PKCS11_ENV, Pkcs11Provider } from '../src/index.js';

const page = readPage('docs/providers/pkcs11.md');
const MODULE = '/usr/lib/softhsm/libsofthsm2.so';

function jsonBlocks(markdown: string): unknown[] {
  return [...markdown.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1] ?? ''));
}

describe('docs/providers/pkcs11.md', () => {
  it('its capability table matches PKCS11_CAPABILITIES, field by field', () => {
    expect(documentedCapabilities(page)).toEqual(capabilitiesAsData(PKCS11_CAPABILITIES));
  });

  it('the provider answers with that table when no oaepHashes option is given', () => {
    expect(capabilitiesAsData(new Pkcs11Provider({ module: MODULE }).capabilities)).toEqual(
      capabilitiesAsData(PKCS11_CAPABILITIES),
    );
  });

  it('names every environment variable the CLI reads', () => {
    for (const name of Object.values(PKCS11_ENV)) expect(page).toContain(`\`${name}\``);
  });

  it.each([
    ['docs/providers/pkcs11.md', page],
    ['docs/many-machines.md', readPage('docs/many-machines.md')],
  ])('the policy examples of %s are valid policies that declare a module', (_name, markdown) => {
    const blocks = jsonBlocks(markdown);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      expect(validatePolicy(block)).toEqual([]);
      expect(block).toHaveProperty('pkcs11.modules');
    }
  });
});
