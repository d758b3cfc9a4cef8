/**
 * docs/providers/capi.md shows the capability table the provider answers with: the table under
 * "## Capabilities" must list exactly the fields and values of CAPI_CAPABILITIES. The page's name
 * rules are the ones the code enforces.
 */
import { TEST_POLICY_SOURCES } from '@keystore/core/testing';
import { describe, expect, it } from 'vitest';
import { capabilitiesAsData, documentedCapabilities, readPage } from '../../../test-support/docs-tables.js';
import { CAPI_CAPABILITIES, CapiProvider, LEGACY_CRYPTOAPI_WARNING_CODE, MAX_KEY_NAME_LENGTH } from '../src/index.js';

const page = readPage('docs/providers/capi.md');

describe('docs/providers/capi.md', () => {
  it('its capability table matches CAPI_CAPABILITIES, field by field', () => {
    expect(documentedCapabilities(page)).toEqual(capabilitiesAsData(CAPI_CAPABILITIES));
  });

  it('the provider answers with that table', () => {
    expect(
      new CapiProvider({ [TEST_POLICY_SOURCES]: { machinePolicy: null, registryPolicy: null } }).capabilities,
    ).toBe(CAPI_CAPABILITIES);
  });

  it('names the warning code and the name rule the code uses', () => {
    expect(page).toContain(LEGACY_CRYPTOAPI_WARNING_CODE);
    expect(page).toContain(`1 to ${MAX_KEY_NAME_LENGTH} characters from \`A-Z a-z 0-9 . _ -\``);
  });
});
