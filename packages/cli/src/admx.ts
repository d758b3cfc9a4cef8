/**
 * The Group Policy administrative template (ADMX, with its en-US ADML) for the registry machine policy,
 * generated from the policy's JSON Schema and the core's table of registry values, so that the template
 * cannot name a value the core does not read, nor miss one it does.
 *
 * @module
 */
import { DEFAULT_POLICY, POLICY_SCHEMA, REGISTRY_POLICY_KEY, REGISTRY_POLICY_VALUES } from '@keystore/core';

/** The namespace the ADMX and ADML files are in (every Windows template uses it). */
const ADMX_NAMESPACE = 'http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions';
/** The template's own namespace, as `policyNamespaces/target` declares it. */
const ADMX_TARGET_NAMESPACE = 'Keystore.Policies.Keystore';
/** The registry key the policies write, relative to HKLM. */
const ADMX_KEY = REGISTRY_POLICY_KEY.replace(/^HKLM\\/, '');
const CATEGORY = 'keystore';
const SUPPORTED = 'SUPPORTED_keystore_0_2';

/** A field of the schema that a policy sets: everything the generator reads about it. */
interface SchemaField {
  readonly pointer: string;
  readonly title: string;
  readonly description: string;
  readonly type: string;
  readonly enum?: readonly string[];
  readonly items?: { readonly enum?: readonly string[]; readonly description?: string };
  readonly minimum?: number;
  readonly maximum?: number;
}

interface SchemaNode {
  title?: string;
  description?: string;
  type?: string;
  enum?: readonly string[];
  items?: { enum?: readonly string[]; description?: string };
  minimum?: number;
  maximum?: number;
  properties?: Record<string, SchemaNode>;
}

/** The leaves of the schema (every field that is not an object of fields), skipping `$schema`. */
export function schemaFields(schema: SchemaNode = POLICY_SCHEMA as unknown as SchemaNode): SchemaField[] {
  const fields: SchemaField[] = [];
  const walk = (node: SchemaNode, pointer: string, parent: SchemaNode | undefined, key: string) => {
    if (node.type === 'object' && node.properties !== undefined) {
      for (const [name, child] of Object.entries(node.properties)) {
        if (pointer === '' && name === '$schema') continue;
        walk(child, `${pointer}/${name}`, node, name);
      }
      return;
    }
    const title = node.title ?? (parent?.title === undefined ? key : `${parent.title}: ${key}`);
    const description = [parent?.type === 'object' && pointer.split('/').length > 2 ? parent.description : undefined]
      .concat(node.description)
      .filter((d): d is string => d !== undefined)
      .join(' ');
    fields.push({
      pointer,
      title,
      description,
      type: node.type ?? 'string',
      ...(node.enum === undefined ? {} : { enum: node.enum }),
      ...(node.items === undefined ? {} : { items: node.items }),
      ...(node.minimum === undefined ? {} : { minimum: node.minimum }),
      ...(node.maximum === undefined ? {} : { maximum: node.maximum }),
    });
  };
  walk(schema, '', undefined, '');
  return fields;
}

function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** The schema's Markdown code spans as plain text (the Group Policy editor shows text as is). */
function plain(text: string): string {
  return text.replace(/`([^`]*)`/g, '$1');
}

function defaultAt(pointer: string): unknown {
  let value: unknown = DEFAULT_POLICY;
  for (const segment of pointer.slice(1).split('/')) value = (value as Record<string, unknown>)[segment];
  return value;
}

/**
 * Schema fields that no single registry value can express (a list of objects), so the template has
 * no policy for them: a machine sets them in the policy file, or on Windows in the registry's
 * whole-document `Policy` value.
 */
export const DOCUMENT_ONLY_FIELDS: ReadonlySet<string> = new Set(['/pkcs11/modules']);

/** One policy of the template, before it is written out as XML. */
interface TemplatePolicy {
  /** The policy's name and its registry value's name. */
  readonly name: string;
  readonly pointer: string;
  readonly valueType: 'REG_SZ' | 'REG_MULTI_SZ' | 'REG_DWORD';
  readonly element: 'enum' | 'multiText' | 'decimal' | 'boolean';
  readonly field: SchemaField;
}

/**
 * Pairs each registry value with its schema field; throws when one has no partner or their types do
 * not fit (a new schema field without a registry value, a registry value without a field).
 */
export function templatePolicies(
  fields: readonly SchemaField[] = schemaFields(),
  values: readonly { name: string; pointer: string; type: TemplatePolicy['valueType'] }[] = REGISTRY_POLICY_VALUES,
): TemplatePolicy[] {
  const problems: string[] = [];
  for (const field of fields) {
    if (DOCUMENT_ONLY_FIELDS.has(field.pointer)) continue;
    if (!values.some((v) => v.pointer === field.pointer)) {
      problems.push(`schema field ${field.pointer} has no registry value`);
    }
  }
  const policies: TemplatePolicy[] = [];
  for (const value of values) {
    const field = fields.find((f) => f.pointer === value.pointer);
    if (field === undefined) {
      problems.push(`registry value ${value.name} sets ${value.pointer}, which is not a field of the schema`);
      continue;
    }
    const element =
      value.type === 'REG_SZ' && field.type === 'string' && field.enum !== undefined
        ? 'enum'
        : value.type === 'REG_MULTI_SZ' && field.type === 'array'
          ? 'multiText'
          : value.type === 'REG_DWORD' && field.type === 'integer'
            ? 'decimal'
            : value.type === 'REG_DWORD' && field.type === 'boolean'
              ? 'boolean'
              : undefined;
    if (element === undefined) {
      problems.push(`registry value ${value.name} (${value.type}) cannot hold ${field.pointer} (${field.type})`);
      continue;
    }
    policies.push({ name: value.name, pointer: value.pointer, valueType: value.type, element, field });
  }
  if (problems.length > 0) throw new Error(`the policy template cannot be generated: ${problems.join('; ')}`);
  return policies;
}

function explain(policy: TemplatePolicy): string {
  const { field } = policy;
  const lines = [plain(field.description)];
  if (field.items?.description !== undefined) lines.push(`Each line: ${plain(field.items.description)}`);
  if (field.items?.enum !== undefined) lines.push(`Each line one of: ${field.items.enum.join(', ')}.`);
  if (field.minimum !== undefined || field.maximum !== undefined) {
    lines.push(
      `From ${field.minimum ?? 0}${field.maximum === undefined ? '' : ` to ${field.maximum}`}` +
        (field.maximum === undefined ? ' up.' : '.'),
    );
  }
  lines.push(
    '',
    `Enabled: writes the ${policy.valueType} value ${policy.name} under HKEY_LOCAL_MACHINE\\${ADMX_KEY}, ` +
      `which sets the policy field ${field.pointer}. A machine policy is a ceiling: the app's own policy ` +
      'may be stricter, never weaker. A value keystore cannot accept makes it refuse to work (fail closed), ' +
      'and keystore policy effective says which.',
    '',
    'Disabled or not configured: the value is deleted; the field comes from the other policy layers ' +
      '(the machine policy file, the app policy, the defaults).',
  );
  return lines.join('\n');
}

/** The id of an enum item's display string. */
function itemId(policy: TemplatePolicy, item: string): string {
  return `${policy.name}_${item.replace(/[^A-Za-z0-9]/g, '_')}`;
}

function elementXml(policy: TemplatePolicy): string {
  const id = `id="${policy.name}" valueName="${policy.name}"`;
  switch (policy.element) {
    case 'enum': {
      const items = (policy.field.enum ?? []).map(
        (item) =>
          `          <item displayName="$(string.${itemId(policy, item)})"><value><string>${xml(item)}</string></value></item>`,
      );
      return `        <enum ${id} required="true">\n${items.join('\n')}\n        </enum>`;
    }
    case 'multiText':
      return `        <multiText ${id} required="true" />`;
    case 'decimal':
      return `        <decimal ${id} required="true" minValue="${policy.field.minimum ?? 0}" maxValue="${policy.field.maximum ?? 4294967295}" />`;
    case 'boolean':
      return (
        `        <boolean ${id}>\n` +
        '          <trueValue><decimal value="1" /></trueValue>\n' +
        '          <falseValue><decimal value="0" /></falseValue>\n' +
        '        </boolean>'
      );
  }
}

function presentationXml(policy: TemplatePolicy): string {
  const label = xml(policy.field.title);
  const fallback = defaultAt(policy.pointer);
  let control: string;
  switch (policy.element) {
    case 'enum': {
      const index = Math.max(0, (policy.field.enum ?? []).indexOf(String(fallback)));
      control = `<dropdownList refId="${policy.name}" noSort="true" defaultItem="${index}">${label}</dropdownList>`;
      break;
    }
    case 'multiText':
      control = `<multiTextBox refId="${policy.name}">${label} (one a line)</multiTextBox>`;
      break;
    case 'decimal':
      control = `<decimalTextBox refId="${policy.name}" defaultValue="${Number(fallback)}" spinStep="1024">${label}</decimalTextBox>`;
      break;
    case 'boolean':
      control = `<checkBox refId="${policy.name}" defaultChecked="${fallback === true}">${label}</checkBox>`;
      break;
  }
  return `      <presentation id="${policy.name}">\n        ${control}\n      </presentation>`;
}

/** The ADMX file and its en-US ADML file, as text. */
interface PolicyTemplates {
  /** `keystore.admx`. */
  readonly admx: string;
  /** `en-US/keystore.adml`. */
  readonly adml: string;
  /** The policies, in the template's order. */
  readonly policies: readonly TemplatePolicy[];
}

/** Generates the administrative template from the policy schema and the core's registry value table. */
export function policyTemplates(policies: readonly TemplatePolicy[] = templatePolicies()): PolicyTemplates {
  const header = `<?xml version="1.0" encoding="utf-8"?>
<!-- Generated by keystore policy admx from the keystore policy schema; do not edit. -->`;
  const policyXml = policies.map(
    (
      p,
    ) => `    <policy name="${p.name}" class="Machine" displayName="$(string.${p.name})" explainText="$(string.${p.name}_Explain)" presentation="$(presentation.${p.name})" key="${xml(ADMX_KEY)}">
      <parentCategory ref="${CATEGORY}" />
      <supportedOn ref="${SUPPORTED}" />
      <elements>
${elementXml(p)}
      </elements>
    </policy>`,
  );
  const admx = `${header}
<policyDefinitions xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" revision="1.0" schemaVersion="1.0" xmlns="${ADMX_NAMESPACE}">
  <policyNamespaces>
    <target prefix="keystore" namespace="${ADMX_TARGET_NAMESPACE}" />
  </policyNamespaces>
  <resources minRequiredRevision="1.0" />
  <supportedOn>
    <definitions>
      <definition name="${SUPPORTED}" displayName="$(string.${SUPPORTED})" />
    </definitions>
  </supportedOn>
  <categories>
    <category name="${CATEGORY}" displayName="$(string.${CATEGORY})" explainText="$(string.${CATEGORY}_Explain)" />
  </categories>
  <policies>
${policyXml.join('\n')}
  </policies>
</policyDefinitions>
`;
  const strings: [string, string][] = [
    [CATEGORY, 'keystore'],
    [CATEGORY + '_Explain', plain((POLICY_SCHEMA as { description: string }).description)],
    [SUPPORTED, 'keystore 0.2.0 and later, on Windows'],
  ];
  for (const p of policies) {
    strings.push([p.name, p.field.title], [`${p.name}_Explain`, explain(p)]);
    if (p.element === 'enum') for (const item of p.field.enum ?? []) strings.push([itemId(p, item), item]);
  }
  const adml = `${header}
<policyDefinitionResources xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" revision="1.0" schemaVersion="1.0" xmlns="${ADMX_NAMESPACE}">
  <displayName>keystore</displayName>
  <description>Machine policy of the keystore SDK: which key stores may hold private keys, and under which rules.</description>
  <resources>
    <stringTable>
${strings.map(([id, text]) => `      <string id="${id}">${xml(text)}</string>`).join('\n')}
    </stringTable>
    <presentationTable>
${policies.map(presentationXml).join('\n')}
    </presentationTable>
  </resources>
</policyDefinitionResources>
`;
  return { admx, adml, policies };
}
