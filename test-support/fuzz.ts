/**
 * Test support for the operation fuzz runs: one judgement shared by every provider's run.
 */
import { type FuzzReport, formatFuzzFailures, formatFuzzReport } from '@keystore/core/testing';
import { expect } from 'vitest';

/**
 * Prints the run's figures line (and its error codes), then asserts that every planned operation ran
 * and that there was no crash, hang, untyped error, lost or unexpected key, or wrong result. A
 * failure prints every finding and the seed to rerun it with.
 */
export function expectCleanFuzz(label: string, report: FuzzReport, operations: number): void {
  console.log(formatFuzzReport(label, report), JSON.stringify(report.byCode));
  const failures = formatFuzzFailures(report, `KEYSTORE_FUZZ_SEED=${report.seed}`);
  expect(report.crashes, failures).toBe(0);
  expect(report.hangs, failures).toBe(0);
  expect(report.untypedErrors, failures).toBe(0);
  expect(report.keysLost, failures).toBe(0);
  expect(report.unexpectedKeys, failures).toBe(0);
  expect(report.wrongResults, failures).toBe(0);
  expect(report.operations, failures).toBe(operations);
}
