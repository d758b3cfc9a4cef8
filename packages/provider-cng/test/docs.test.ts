/**
 * docs/providers/cng.md shows the capability table the provider answers with: the table under
 * "## Capabilities" must list exactly the fields and values of CNG_CAPABILITIES.
 */
import { describe, expect, it } from 'vitest';
import { capabilitiesAsData, documentedCapabilities, readPage } from '../../../test-support/docs-tables.js';
import { CNG_CAPABILITIES, CngProvider } from '../src/index.js';

describe('docs/providers/cng.md', () => {
  it('its capability table matches CNG_CAPABILITIES, field by field', () => {
    expect(documentedCapabilities(readPage('docs/providers/cng.md'))).toEqual(capabilitiesAsData(CNG_CAPABILITIES));
  });

  it('the provider answers with that table', () => {
    expect(new CngProvider().capabilities).toBe(CNG_CAPABILITIES);
  });
});
