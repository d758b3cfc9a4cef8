// The documentation site's typedoc plugin (typedoc.json names it in `plugin`). It turns the guides in
// docs/ into the site's pages and fixes what typedoc 0.28 gets wrong for this project:
//
// - every guide (docs/*.md, docs/providers/*.md, found by typedoc's `projectDocuments` globs) is a
//   page titled as the home page's table names it (else by its `# ` heading), grouped by folder
//   (Guides, Providers), ordered as that table lists them with getting-started first, at a URL
//   that follows its file (docs/providers/tpm.md → guides/providers/tpm.html), its headings with
//   the anchors GitHub gives them; docs/README.md stays the home page only;
// - a guide's front matter may name API pages (`reference:`); they are shown under its heading as
//   `{@link}`s, which typedoc resolves and validates like any other;
// - files the site publishes at fixed paths (option `keystoreSiteFiles`, e.g. the policy JSON
//   Schema) are copied into the output, and a guide's `reference:` may link to them (`/path`);
// - members named by a well-known symbol render as `[Symbol.asyncDispose]`, once: typedoc names
//   them `[asyncDispose]`, prints that as a quoted string (TypeStrong/typedoc#3015, to be fixed in
//   0.29), and lists one signature per declaration of the interface, of which AsyncDisposable has
//   two (TypeScript's lib.esnext.disposable and @types/node's compatibility declarations).
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import {
  Application,
  Converter,
  DefaultTheme,
  DefaultThemeRenderContext,
  KindRouter,
  MinimalSourceFile,
  ParameterType,
  ReflectionKind,
  RendererEvent,
  Slugger,
} from 'typedoc';

const GUIDES_DIR = 'guides';
const FIRST_GUIDE = 'getting-started';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.options.addDeclaration({
    name: 'keystoreSiteFiles',
    help: 'Files the site publishes at a fixed path: { "site/path": "repository/path" }.',
    type: ParameterType.Mixed,
    defaultValue: {},
    validate(value) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new Error('keystoreSiteFiles must map site paths to repository paths');
      }
      for (const [to, from] of Object.entries(value)) {
        if (typeof from !== 'string' || to.startsWith('/') || to.split('/').includes('..')) {
          throw new Error(`keystoreSiteFiles: "${to}" must be a relative site path naming a file`);
        }
      }
    },
  });

  /** Where each guide's page goes, relative to the guides folder, without extension. */
  const guidePaths = new Map();

  app.converter.on(Converter.EVENT_CREATE_DOCUMENT, (_context, doc) => onCreateGuide(app, doc, guidePaths));
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => orderGuides(app, context.project, guidePaths), 100);
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (_context, refl) => nameWellKnownSymbol(refl));
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    dropDuplicateSignatures(context.project);
    nameInheritedSymbols(context.project);
  });

  app.renderer.defineRouter(
    'keystore',
    class GuideRouter extends KindRouter {
      getIdealBaseName(reflection) {
        const path = guidePaths.get(reflection);
        if (path !== undefined) return `${GUIDES_DIR}/${path.split('/').map(safeUrlPart).join('/')}`;
        return super.getIdealBaseName(reflection);
      }

      buildPages(project) {
        const pages = super.buildPages(project);
        // A guide's headings get the anchors GitHub gives them, which the guides link to.
        for (const doc of guidePaths.keys()) this.sluggers.set(doc, new GitHubSlugger(this.sluggerConfiguration));
        return pages;
      }
    },
  );
  // typedoc takes a heading's anchor from its text tokens only, so "## `keystore doctor`" would be
  // "#_": give inline code the text child that typedoc reads (markdown-it renders code from
  // `content`, so the output is unchanged).
  // (Set once the options are read: reading them resets what a plugin set before.)
  app.on(Application.EVENT_BOOTSTRAP_END, () => {
    const loadMarkdownIt = app.options.getValue('markdownItLoader');
    app.options.setValue('markdownItLoader', (parser) => {
      loadMarkdownIt(parser);
      parser.core.ruler.push('keystore_heading_code_text', (state) => {
        state.tokens.forEach((token, i) => {
          if (token.type !== 'inline' || state.tokens[i - 1]?.type !== 'heading_open') return;
          for (const child of token.children ?? []) {
            if (child.type === 'code_inline' && !child.children) {
              child.children = [Object.assign(new state.Token('text', '', 0), { content: child.content })];
            }
          }
        });
      });
    });
  });
  app.renderer.defineTheme('keystore', SiteTheme);
  app.renderer.on(RendererEvent.END, (event) => publishFiles(app, event.outputDirectory));
}

/** Anchors as GitHub makes them: lower case, punctuation other than `-` and `_` dropped, spaces → `-`. */
class GitHubSlugger extends Slugger {
  serialize(value) {
    return value
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
  }
}

function safeUrlPart(part) {
  return part.replace(/[^\w.-]/g, '_');
}

/** The docs folder: the folder of the home page (the `readme` option). */
function docsDir(app) {
  return dirname(resolve(app.options.getValue('readme')));
}

function toPosix(path) {
  return path.split(sep).join('/');
}

/**
 * @param {import('typedoc').Application} app
 * @param {import('typedoc').DocumentReflection} doc
 * @param {Map<unknown, string>} guidePaths
 */
function onCreateGuide(app, doc, guidePaths) {
  const project = doc.project;
  const file = project.files.getReflectionPath(doc);
  if (!file) return;
  if (resolve(file) === resolve(app.options.getValue('readme'))) {
    // The home page is the readme; as a guide it would be there twice.
    project.removeReflection(doc);
    return;
  }
  const path = toPosix(relative(docsDir(app), resolve(file))).replace(/\.md$/, '');
  guidePaths.set(doc, path);

  const title =
    typeof doc.frontmatter.title === 'string'
      ? doc.frontmatter.title
      : (homeLinks(app).find((link) => link.path === path)?.text ?? headingOf(doc.content));
  if (!title) {
    app.logger.error(`${toPosix(file)}: a guide needs a "# " heading or a front-matter title`);
    return;
  }
  doc.name = title;
  if (typeof doc.frontmatter.group !== 'string') {
    doc.frontmatter.group = path.startsWith('providers/') ? 'Providers' : 'Guides';
  }
  addReferenceLine(app, doc, file, path);
}

/** The text of the guide's first `# ` heading, without Markdown code marks. */
function headingOf(content) {
  const text = content.map((part) => part.text).join('');
  const match = /^# +(.+?) *$/m.exec(text);
  return match?.[1]?.replace(/`/g, '');
}

/**
 * Under the guide's heading, one line that links the API pages its front matter names
 * (`reference: [createKeyStore, "@keystore/core!KeyStore", /schema/policy.schema.json]`). Names go
 * through `{@link}`, so a name that does not resolve fails the build (validation.invalidLink);
 * `/path` entries link to a file the site publishes (keystoreSiteFiles).
 */
function addReferenceLine(app, doc, file, path) {
  const entries = doc.frontmatter.reference;
  if (entries === undefined) return;
  if (!Array.isArray(entries) || !entries.every((e) => typeof e === 'string' && e.trim() !== '')) {
    app.logger.error(`${toPosix(file)}: front-matter "reference" must be a list of API names or /site/paths`);
    return;
  }
  const published = app.options.getValue('keystoreSiteFiles');
  const toRoot = '../'.repeat(`${GUIDES_DIR}/${path}`.split('/').length - 1);
  const parts = [{ kind: 'text', text: '**Reference:** ' }];
  entries.forEach((entry, i) => {
    if (i > 0) parts.push({ kind: 'text', text: ' · ' });
    if (entry.startsWith('/')) {
      // A page-relative URL, kept as text: typedoc would look for it as a file beside the guide.
      const target = entry.slice(1);
      if (!(target in published)) app.logger.error(`${toPosix(file)}: ${entry} is not in keystoreSiteFiles`);
      parts.push({ kind: 'text', text: `[\`${basename(target)}\`](${toRoot}${target})` });
      return;
    }
    // Parsed as Markdown of the guide's own file, so the name resolves as a `{@link}` in its text would.
    const label = entry.replace(/^.*[!.]/, '').replace(/^"|"$/g, '');
    const { content } = app.converter.parseRawComment(
      new MinimalSourceFile(`{@link ${entry} | ${label}}`, file),
      doc.project.files,
    );
    parts.push(...content);
  });
  parts.push({ kind: 'text', text: '\n\n' });
  doc.content.splice(afterHeading(doc.content), 0, ...parts);
}

/**
 * The index of the part where the text after the first heading line starts; the text part that
 * holds the end of that line is split there.
 */
function afterHeading(content) {
  let seen = '';
  for (let i = 0; i < content.length; i++) {
    const part = content[i];
    if (part.kind !== 'text') {
      seen += part.text;
      continue;
    }
    const heading = /^# +.*\n+/m.exec(seen + part.text);
    if (heading) {
      const end = heading.index + heading[0].length - seen.length;
      const before = { kind: 'text', text: part.text.slice(0, end) };
      const after = { kind: 'text', text: part.text.slice(end) };
      content.splice(i, 1, before, after);
      return i + 1;
    }
    seen += part.text;
  }
  return 0;
}

const homeLinksCache = new WeakMap();

/**
 * The guides the home page links to, in its order, with the link text: a guide's page is titled as
 * the home page names it (a short name: "TPM provider"), or else by its heading.
 */
function homeLinks(app) {
  let links = homeLinksCache.get(app);
  if (!links) {
    const readme = readFileSync(resolve(app.options.getValue('readme')), 'utf8');
    links = [];
    for (const m of readme.matchAll(/\[([^\]]+)\]\(([\w./-]+)\.md(?:#[^)]*)?\)/g)) {
      if (!links.some((link) => link.path === m[2])) links.push({ text: m[1].replace(/`/g, ''), path: m[2] });
    }
    homeLinksCache.set(app, links);
  }
  return links;
}

/**
 * Guides in the order the home page's table lists them, getting-started first, any guide the
 * table does not name after those, by path.
 */
function orderGuides(app, project, guidePaths) {
  const listed = homeLinks(app).map((link) => link.path);
  const rank = (doc) => {
    const path = guidePaths.get(doc) ?? '';
    if (path === FIRST_GUIDE) return -1;
    const i = listed.indexOf(path);
    return i === -1 ? listed.length : i;
  };
  const byRank = (a, b) => {
    if (!a.kindOf(ReflectionKind.Document) || !b.kindOf(ReflectionKind.Document)) return 0;
    return rank(a) - rank(b) || (guidePaths.get(a) ?? '').localeCompare(guidePaths.get(b) ?? '');
  };
  project.documents?.sort(byRank);
  const docs = project.documents ?? [];
  if (project.childrenIncludingDocuments) {
    const others = project.childrenIncludingDocuments.filter((c) => !c.kindOf(ReflectionKind.Document));
    project.childrenIncludingDocuments = [...docs, ...others];
  }
}

// Well-known symbols typedoc may meet as member names (`[asyncDispose]`).
const WELL_KNOWN = new Set(
  [...Object.getOwnPropertyNames(Symbol), 'asyncDispose', 'dispose'].filter(
    (name) => name !== 'for' && name !== 'keyFor' && !['length', 'name', 'prototype'].includes(name),
  ),
);

function nameWellKnownSymbol(refl) {
  const match = /^\[(\w+)\]$/.exec(refl.name);
  if (match && WELL_KNOWN.has(match[1])) refl.name = `[Symbol.${match[1]}]`;
}

/** "Inherited from AsyncDisposable.[asyncDispose]" names the member as the renamed one. */
function nameInheritedSymbols(project) {
  const rename = (ref) => {
    if (ref?.name)
      ref.name = ref.name.replace(/\.\[(\w+)\]$/, (m, name) => (WELL_KNOWN.has(name) ? `.[Symbol.${name}]` : m));
  };
  for (const refl of Object.values(project.reflections)) {
    rename(refl.inheritedFrom);
    rename(refl.overwrites);
    rename(refl.implementationOf);
  }
}

/**
 * A method declared in two merged declarations of one interface gets one signature from each;
 * where they are the same signature, the page should show it once.
 */
function dropDuplicateSignatures(project) {
  for (const refl of project.getReflectionsByKind(ReflectionKind.Method)) {
    const seen = new Set();
    for (const sig of [...(refl.signatures ?? [])]) {
      const key = JSON.stringify([
        sig.typeParameters?.map((t) => t.name),
        sig.parameters?.map((p) => [p.name, p.flags.isOptional, p.flags.isRest, p.type?.toString()]),
        sig.type?.toString(),
      ]);
      if (seen.has(key)) project.removeReflection(sig);
      else seen.add(key);
    }
  }
}

/** The default theme, but a member named by a symbol is printed `[Symbol.x]`, not as a quoted string. */
class SiteTheme extends DefaultTheme {
  ContextClass = SiteRenderContext;
}

class SiteRenderContext extends DefaultThemeRenderContext {
  constructor(...args) {
    super(...args);
    const title = this.memberSignatureTitle;
    const preview = this.reflectionPreview;
    this.memberSignatureTitle = (...a) => unquoteSymbolNames(title(...a));
    this.reflectionPreview = (...a) => unquoteSymbolNames(preview(...a));
  }
}

const QUOTED_SYMBOL = /^"(\[[\w.]+\])"$/;

/**
 * In typedoc's JSX tree, a member name `"[Symbol.x]"` or `"[UNIQUE_SYMBOL]"` (the only text of a
 * name element) loses its quotes, as TypeScript writes a computed name.
 */
function unquoteSymbolNames(node) {
  if (Array.isArray(node)) return node.map(unquoteSymbolNames);
  if (!node || typeof node !== 'object' || !Array.isArray(node.children)) return node;
  const kindClass = typeof node.props?.class === 'string' && node.props.class.startsWith('tsd-kind-');
  node.children = node.children.map((child) => {
    if (kindClass && typeof child === 'string') return child.replace(QUOTED_SYMBOL, '$1');
    return unquoteSymbolNames(child);
  });
  return node;
}

/** Copies the files named by keystoreSiteFiles to their paths in the site. */
function publishFiles(app, outputDirectory) {
  for (const [to, from] of Object.entries(app.options.getValue('keystoreSiteFiles'))) {
    const target = join(outputDirectory, to);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(resolve(from), target);
  }
}
