// Checks doctor's JSON output against the published doctor schema (packages/cli/doctor.schema.json)
// with a JSON Schema draft 2020-12 validator (@cfworker/json-schema).
import { readFileSync } from 'node:fs';
import { Validator } from '@cfworker/json-schema';

export const DOCTOR_SCHEMA = JSON.parse(readFileSync(new URL('../doctor.schema.json', import.meta.url), 'utf8'));

const validator = new Validator(DOCTOR_SCHEMA, '2020-12', false);

/** Every place `output` breaks the schema, as `POINTER: ERROR` (empty when it conforms). */
export function doctorSchemaErrors(output: unknown): string[] {
  const result = validator.validate(output);
  return result.valid ? [] : result.errors.map((e) => `${e.instanceLocation}: ${e.error}`);
}
