// Reads the generated ADMX and ADML with a real XML parser (@xmldom/xmldom), fails on any XML error,
// and checks the ADMX structure: the namespace, policyNamespaces, and every string, presentation,
// category and supportedOn reference resolving between the two files.
import { DOMParser, type Document, type Element } from '@xmldom/xmldom';

export const ADMX_NS = 'http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions';

/** Parses `text`, throwing on any warning or error (a document that is not well-formed). */
export function parseXml(text: string, what: string): Document {
  const parser = new DOMParser({
    onError: (level, message) => {
      throw new Error(`${what}: XML ${level}: ${message}`);
    },
  });
  return parser.parseFromString(text, 'text/xml');
}

export function children(parent: Element | Document, name: string): Element[] {
  return Array.from(parent.getElementsByTagNameNS(ADMX_NS, name));
}

/** One policy as its ADMX says: what enabling it writes. */
export interface AdmxPolicy {
  name: string;
  key: string;
  element: { kind: string; id: string; valueName: string; items: string[]; minValue?: number; maxValue?: number };
}

/** Every problem of the pair's structure (empty when none), and the policies. */
export function checkTemplates(admxText: string, admlText: string): { problems: string[]; policies: AdmxPolicy[] } {
  const problems: string[] = [];
  const admx = parseXml(admxText, 'keystore.admx');
  const adml = parseXml(admlText, 'keystore.adml');
  const root = admx.documentElement;
  const resRoot = adml.documentElement;
  if (root?.localName !== 'policyDefinitions' || root.namespaceURI !== ADMX_NS) {
    problems.push(`ADMX root is ${root?.namespaceURI} ${root?.localName}`);
  }
  if (resRoot?.localName !== 'policyDefinitionResources' || resRoot.namespaceURI !== ADMX_NS) {
    problems.push(`ADML root is ${resRoot?.namespaceURI} ${resRoot?.localName}`);
  }
  const targets = children(admx, 'target');
  if (targets.length !== 1 || !targets[0]?.getAttribute('prefix') || !targets[0]?.getAttribute('namespace')) {
    problems.push('policyNamespaces must declare exactly one target with a prefix and a namespace');
  }
  if (children(admx, 'using').length > 0) problems.push('the template must not depend on other templates');
  const strings = new Set(children(adml, 'string').map((s) => s.getAttribute('id')));
  const presentations = new Map(children(adml, 'presentation').map((p) => [p.getAttribute('id'), p] as const));
  // Every $(string.ID) and $(presentation.ID) anywhere in the ADMX resolves in the ADML.
  for (const match of admxText.matchAll(/\$\((string|presentation)\.([^)]*)\)/g)) {
    const [, kind, id] = match;
    if (kind === 'string' ? !strings.has(id ?? '') : !presentations.has(id ?? '')) {
      problems.push(`$(${kind}.${id}) does not resolve in the ADML`);
    }
  }
  const categories = new Set(children(admx, 'category').map((c) => c.getAttribute('name')));
  const supported = new Set(children(admx, 'definition').map((d) => d.getAttribute('name')));
  const policies: AdmxPolicy[] = [];
  for (const policy of children(admx, 'policy')) {
    const name = policy.getAttribute('name') ?? '';
    for (const ref of children(policy, 'parentCategory')) {
      if (!categories.has(ref.getAttribute('ref'))) problems.push(`${name}: unknown category`);
    }
    for (const ref of children(policy, 'supportedOn')) {
      if (!supported.has(ref.getAttribute('ref'))) problems.push(`${name}: unknown supportedOn definition`);
    }
    const elements = children(policy, 'elements')[0];
    const element = elements ? Array.from(elements.childNodes).find((n): n is Element => n.nodeType === 1) : undefined;
    if (element === undefined) {
      problems.push(`${name}: no element`);
      continue;
    }
    const id = element.getAttribute('id') ?? '';
    const presentation = presentations.get(
      /^\$\(presentation\.(.*)\)$/.exec(policy.getAttribute('presentation') ?? '')?.[1] ?? '',
    );
    const refIds = presentation
      ? Array.from(presentation.childNodes)
          .filter((n): n is Element => n.nodeType === 1)
          .map((c) => c.getAttribute('refId'))
      : [];
    if (!refIds.includes(id)) problems.push(`${name}: no presentation control refers to element ${id}`);
    const min = element.getAttribute('minValue');
    const max = element.getAttribute('maxValue');
    policies.push({
      name,
      key: policy.getAttribute('key') ?? '',
      element: {
        kind: element.localName ?? '',
        id,
        valueName: element.getAttribute('valueName') ?? '',
        items: children(element, 'string').map((s) => s.textContent ?? ''),
        ...(min === null ? {} : { minValue: Number(min) }),
        ...(max === null ? {} : { maxValue: Number(max) }),
      },
    });
  }
  return { problems, policies };
}
