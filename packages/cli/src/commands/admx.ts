/**
 * `keystore policy admx`.
 *
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { policyTemplates } from '../admx.js';
import type { CommandContext } from '../commands.js';
import { EXIT_OK } from '../exit-codes.js';
import { json, line } from '../io.js';
import { outputError } from '../usage.js';
import { writeOutput } from './files.js';

export async function admx(ctx: CommandContext): Promise<number> {
  const dir = resolve(ctx.io.cwd, ctx.values.out as string);
  const templates = policyTemplates();
  const adml = join(dir, 'en-US');
  try {
    await mkdir(adml, { recursive: true });
  } catch (err) {
    throw outputError(adml, err);
  }
  const force = ctx.values.force === true;
  const files = { admx: join(dir, 'keystore.admx'), adml: join(adml, 'keystore.adml') };
  await writeOutput(ctx.io, files.admx, templates.admx, force);
  await writeOutput(ctx.io, files.adml, templates.adml, force);
  if (ctx.json) {
    await json(ctx.io.stdout, {
      ...files,
      policies: templates.policies.map(({ name, pointer, valueType, element }) => ({
        name,
        pointer,
        valueType,
        element,
      })),
    });
  } else {
    await line(ctx.io.stdout, `wrote ${files.admx}`);
    await line(ctx.io.stdout, `wrote ${files.adml}`);
    await line(
      ctx.io.stdout,
      `${templates.policies.length} policies: ${templates.policies.map((p) => p.name).join(', ')}`,
    );
  }
  return EXIT_OK;
}
