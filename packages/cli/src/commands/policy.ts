/**
 * `keystore policy check` and `keystore policy effective`.
 *
 * @module
 */
import { resolve } from 'node:path';
import {
  KeyStoreError,
  loadPolicyFile,
  machinePolicyPath,
  type PolicyIssue,
  policyToJson,
  resolvePolicy,
} from '@keystore/core';
import type { CommandContext } from '../commands.js';
import { EXIT_INVALID, EXIT_OK } from '../exit-codes.js';
import { json, line } from '../io.js';
import { describePolicy } from './format.js';
import { appPolicy } from './store.js';

export async function check(ctx: CommandContext): Promise<number> {
  const file = ctx.positionals[0] as string;
  let issues: readonly PolicyIssue[] = [];
  let modules = 0;
  try {
    modules = (await loadPolicyFile(resolve(ctx.io.cwd, file))).pkcs11?.modules?.length ?? 0;
  } catch (err) {
    if (!KeyStoreError.is(err, 'ERR_KEYSTORE_INVALID_POLICY') && !KeyStoreError.is(err, 'ERR_KEYSTORE_ACCESS_DENIED')) {
      throw err;
    }
    issues = err.issues.length > 0 ? err.issues : [{ pointer: '', message: err.message }];
  }
  const valid = issues.length === 0;
  // A valid document may still be refused where it is used: a PKCS#11 module declaration counts only
  // in the machine policy file at the fixed path or the registry.
  const machineOnly = modules > 0 ? ['/pkcs11/modules'] : [];
  if (ctx.json) {
    await json(ctx.io.stdout, {
      valid,
      file,
      issues: issues.map(({ pointer, message }) => ({ pointer, message })),
      ...(machineOnly.length > 0 ? { machineOnly } : {}),
    });
  } else if (valid) {
    await line(ctx.io.stdout, `${file}: valid`);
    if (modules > 0) {
      await line(
        ctx.io.stdout,
        `note: /pkcs11/modules declares ${modules === 1 ? '1 PKCS#11 module' : `${modules} PKCS#11 modules`}: honoured only as the machine policy file at the fixed path (or in the registry); as an app policy or the file KEYSTORE_MACHINE_POLICY names, the document is refused`,
      );
    }
  } else {
    await line(ctx.io.stdout, `${file}: invalid (${issues.length === 1 ? '1 problem' : `${issues.length} problems`})`);
    for (const issue of issues) {
      await line(ctx.io.stdout, `${issue.pointer === '' ? '(document)' : issue.pointer}: ${issue.message}`);
    }
  }
  return valid ? EXIT_OK : EXIT_INVALID;
}

export async function effective(ctx: CommandContext): Promise<number> {
  const app = await appPolicy(ctx);
  const policy = await resolvePolicy({ app: app ?? null });
  if (ctx.json) {
    await json(ctx.io.stdout, policyToJson(policy));
  } else {
    for (const text of describePolicy(policy, machinePolicyPath())) await line(ctx.io.stdout, text);
  }
  return EXIT_OK;
}
