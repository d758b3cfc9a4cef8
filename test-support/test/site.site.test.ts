// The documentation site as a reader gets it: the site `npm run docs` built into docs/api, served on
// loopback and opened in Debian's headless Chromium (driven by playwright-core). Its pages render
// with the theme, search finds API names and guides, no link inside the site is broken and no page
// shows mis-decoded characters. Screenshots go to .tmp/site/ (ignored by git).
//
// Needs Chromium (Debian package `chromium`); without it the browser checks skip, and with
// KEYSTORE_REQUIRE_CHROMIUM=1 (set by CI) they fail instead. The checks of the built files run
// everywhere. Run with `npm run test:site` after `npm run docs`.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const site = join(root, 'docs/api');
const shots = join(root, '.tmp/site');
const CHROMIUM = '/usr/bin/chromium';

const chromiumMissing = existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} not found: install the Debian package chromium (apt-get install chromium)`;
if (chromiumMissing && process.env.KEYSTORE_REQUIRE_CHROMIUM === '1') {
  throw new Error(`KEYSTORE_REQUIRE_CHROMIUM=1 but the site cannot be checked in a browser: ${chromiumMissing}`);
}

function builtFiles(dir = site): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? builtFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** Site paths (with `/`) of every file `npm run docs` wrote. */
function sitePaths(): string[] {
  return builtFiles().map((file) => relative(site, file).split(sep).join('/'));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** A static server for docs/api on loopback; records what it could not serve. */
function serveSite(): Promise<{ server: Server; base: string; missing: string[] }> {
  const missing: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://site').pathname);
    let file = resolve(site, `.${path}`);
    if (path.endsWith('/')) file = join(file, 'index.html');
    if (!(file === site || file.startsWith(site + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      missing.push(path);
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      done({ server, base: `http://127.0.0.1:${port}/`, missing });
    });
  });
}

describe('the built documentation site (docs/api)', () => {
  it('exists: `npm run docs` ran before this test', () => {
    expect(existsSync(join(site, 'index.html')), 'docs/api/index.html missing: run `npm run docs` first').toBe(true);
  });

  it('has a page for every guide in docs/ (the home page is docs/README.md)', () => {
    const paths = sitePaths();
    const guides = [
      ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md') && f !== 'README.md'),
      ...readdirSync(join(root, 'docs/providers')).map((f) => `providers/${f}`),
    ].map((f) => `guides/${f.replace(/\.md$/, '.html')}`);
    expect(guides.length).toBeGreaterThan(10);
    expect(guides.filter((g) => !paths.includes(g))).toEqual([]);
    // Guides are pages, not raw Markdown copied beside them. (typedoc copies a linked file that is
    // not a guide into media/ as is: link to it on GitHub instead, or make it a guide.)
    expect(
      paths.filter((p) => p.endsWith('.md')),
      'Markdown copied raw into the site',
    ).toEqual([]);
    const home = readFileSync(join(site, 'index.html'), 'utf8');
    expect(home).toContain('keystore documentation');
  });

  it('publishes the policy JSON Schema at schema/policy.schema.json, the file the package ships', () => {
    const published = readFileSync(join(site, 'schema/policy.schema.json'), 'utf8');
    expect(published).toBe(readFileSync(join(root, 'packages/core/policy.schema.json'), 'utf8'));
    expect(JSON.parse(published).$id).toBe('urn:keystore:policy:v1');
    const guide = readFileSync(join(site, 'guides/policy.html'), 'utf8');
    expect(guide).toContain('href="../schema/policy.schema.json"');
  });

  it('no page shows mis-decoded UTF-8 (â€¦, Ã) or replacement characters', () => {
    const bad: string[] = [];
    for (const path of sitePaths().filter((p) => p.endsWith('.html'))) {
      const text = readFileSync(join(site, path), 'utf8');
      const m = /[âÃ][\u0080-\u00ff\u0152-\u017e\u0192\u02c6-\u02dc\u2013-\u2122]|\ufffd/.exec(text);
      if (m) bad.push(`${path}: …${text.slice(Math.max(0, m.index - 30), m.index + 10)}…`);
    }
    expect(bad).toEqual([]);
  });

  it('every link and asset inside the site resolves, anchors included', () => {
    const paths = new Set(sitePaths());
    const ids = new Map<string, Set<string>>();
    const idsOf = (path: string) => {
      let found = ids.get(path);
      if (!found) {
        const html = readFileSync(join(site, path), 'utf8');
        found = new Set([...html.matchAll(/\s(?:id|name)="([^"]+)"/g)].map((m) => decodeEntities(m[1]!)));
        ids.set(path, found);
      }
      return found;
    };
    const broken: string[] = [];
    let checked = 0;
    for (const page of [...paths].filter((p) => p.endsWith('.html'))) {
      const html = readFileSync(join(site, page), 'utf8');
      for (const m of html.matchAll(/\s(?:href|src)="([^"]*)"/g)) {
        const raw = decodeEntities(m[1]!);
        if (/^(?:[a-z][a-z0-9+.-]*:|\/\/)/i.test(raw)) continue; // another site, mailto:, data:
        const url = new URL(raw, `http://site/${page}`);
        let target = decodeURIComponent(url.pathname).slice(1);
        if (target === '' || target.endsWith('/')) target += 'index.html';
        checked++;
        if (!paths.has(target)) {
          broken.push(`${page}: ${raw} (no ${target})`);
          continue;
        }
        const anchor = decodeURIComponent(url.hash.slice(1));
        if (anchor && target.endsWith('.html') && !idsOf(target).has(anchor)) {
          broken.push(`${page}: ${raw} (no #${anchor} in ${target})`);
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
    expect(broken).toEqual([]);
  });
});

function decodeEntities(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

describe.skipIf(chromiumMissing !== undefined)(
  `the site in headless Chromium (needs the Debian package chromium${chromiumMissing ? `; skipped: ${chromiumMissing}` : ''})`,
  () => {
    let context: BrowserContext;
    let served: Awaited<ReturnType<typeof serveSite>>;
    let profile: string;
    const pageErrors: string[] = [];

    beforeAll(async () => {
      served = await serveSite();
      profile = mkdtempSync(join(tmpdir(), 'keystore-site-chromium-'));
      mkdirSync(shots, { recursive: true });
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless',
          ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
        viewport: { width: 1280, height: 900 },
      });
      context.on('page', (page) => page.on('pageerror', (error) => pageErrors.push(String(error))));
    }, 120_000);

    afterAll(async () => {
      await context?.close();
      await new Promise((done) => served?.server.close(done));
      if (profile) rmSync(profile, { recursive: true, force: true });
    });

    /** Opens a site page and waits until the theme's script has shown it. */
    async function open(path: string): Promise<Page> {
      const page = await context.newPage();
      const response = await page.goto(served.base + path);
      expect(response?.status(), path).toBe(200);
      await page.waitForFunction('document.body.style.display !== "none"');
      return page;
    }

    /** What shows that the theme's stylesheet applies, read from computed styles. */
    function themeApplied(page: Page) {
      return page.evaluate(() => {
        // Runs in the page. The project compiles without the DOM library, so the few DOM members
        // used here are named through this shape.
        interface Rules extends Iterable<{ cssRules?: Rules }> {}
        interface Style {
          position: string;
          getPropertyValue(name: string): string;
        }
        const dom = globalThis as unknown as {
          document: {
            querySelector(selector: string): object | null;
            styleSheets: Iterable<{ href: string | null; cssRules: Rules }>;
            documentElement: object;
          };
          getComputedStyle(element: object): Style;
        };
        const toolbar = dom.document.querySelector('.tsd-page-toolbar');
        const sheet = [...dom.document.styleSheets].find((s) => s.href?.includes('assets/style.css'));
        // typedoc's rules sit inside `@layer typedoc { … }`: count them all.
        const count = (rules: Rules): number =>
          [...rules].reduce((n, r) => n + 1 + (r.cssRules ? count(r.cssRules) : 0), 0);
        return {
          rules: sheet ? count(sheet.cssRules) : 0,
          toolbarPosition: toolbar ? dom.getComputedStyle(toolbar).position : 'no toolbar',
          background: dom.getComputedStyle(dom.document.documentElement).getPropertyValue('--color-background').trim(),
        };
      });
    }

    it.each([
      ['index.html', 'home', 'keystore documentation'],
      ['guides/policy.html', 'policy guide', 'Policy reference'],
      ['interfaces/_keystore_core.KeyStore.html', 'KeyStore interface', 'KeyStore'],
    ])('%s (%s) renders with the theme', { timeout: 60_000 }, async (path, name, heading) => {
      const page = await open(path);
      const theme = await themeApplied(page);
      expect(theme.rules).toBeGreaterThan(100);
      expect(theme.toolbarPosition).toBe('sticky'); // static without the stylesheet
      expect(theme.background).not.toBe('');
      expect(await page.locator('.col-content h1').allInnerTexts()).toContainEqual(expect.stringContaining(heading));
      await page.screenshot({ path: join(shots, `${name.replace(/ /g, '-')}.png`), fullPage: false });
      await page.close();
    });

    it('the policy guide is a page: headings, highlighted code, ≥ as ≥, links to the API and the schema', async () => {
      const page = await open('guides/policy.html');
      const text = (await page.locator('.col-content').textContent()) ?? '';
      expect(text).toContain('≥');
      expect(text).not.toContain('](#'); // Markdown rendered, not shown
      expect(await page.locator('.col-content h2').count()).toBeGreaterThan(3);
      expect(await page.locator('pre code span[class^="hl-"]').count()).toBeGreaterThan(0);
      const reference = page.locator('.col-content a[href*="functions/_keystore_core.resolvePolicy.html"]').first();
      await expect(reference.isVisible()).resolves.toBe(true);
      const href = await page.locator('.col-content a[href$="schema/policy.schema.json"]').first().getAttribute('href');
      const schema = await fetch(new URL(href ?? '', page.url()));
      expect(((await schema.json()) as { $id?: string }).$id).toBe('urn:keystore:policy:v1');
      await page.close();
    });

    it('the KeyStore page lists [Symbol.asyncDispose]() once, as TypeScript writes it, and links its guide', async () => {
      const page = await open('interfaces/_keystore_core.KeyStore.html');
      const members = page.locator('section.tsd-member').filter({ hasText: 'asyncDispose' });
      expect(await members.count()).toBe(1);
      await expect(members.locator('h3').textContent()).resolves.toMatch(/^\[Symbol\.asyncDispose\]/);
      const signatures = await members.locator('.tsd-signature').allInnerTexts();
      expect(signatures).toHaveLength(1);
      expect(signatures[0]).toMatch(/^\[Symbol\.asyncDispose\]\(\): /);
      // The interface's summary at the top of the page writes it the same way, once.
      const summary = (await page.locator('.col-content > .tsd-signature').first().textContent()) ?? '';
      expect(summary.match(/asyncDispose/g)).toHaveLength(1);
      expect(summary).toContain('[Symbol.asyncDispose]()');
      const text = (await page.locator('.col-content').textContent()) ?? '';
      expect(text).not.toContain('"[');
      expect(text).not.toContain('[asyncDispose]');
      expect(await page.locator('.col-content a[href^="../guides/"]').count()).toBeGreaterThan(0);
      await page.close();
    });

    it.each([
      ['createKey', /interfaces\/_keystore_core\.KeyStore\.html#createkey$/],
      ['Policy reference', /guides\/policy\.html$/],
      ['TPM provider', /guides\/providers\/tpm\.html$/],
    ])('search finds %s', { timeout: 60_000 }, async (query, href) => {
      const page = await open('index.html');
      await page.click('#tsd-search-trigger');
      await page.fill('#tsd-search-input', query);
      const results = page.locator('#tsd-search-results li a');
      await results.first().waitFor();
      const hrefs = await Promise.all((await results.all()).map((link) => link.getAttribute('href')));
      expect(
        hrefs.some((h) => href.test(h ?? '')),
        hrefs.join('\n'),
      ).toBe(true);
      if (query === 'createKey') await page.screenshot({ path: join(shots, 'search.png') });
      await page.close();
    });

    it('the guides are in the navigation, Guides first with getting-started leading if present, then Providers', async () => {
      const page = await open('guides/policy.html');
      const nav = page.locator('#tsd-nav-container');
      await nav.locator('a').first().waitFor();
      const groups = await nav.locator(':scope > li > details > summary').allInnerTexts();
      expect(groups.map((g) => g.trim())).toEqual(['Guides', 'Providers', 'Modules']);
      const linksOf = async (group: number) => {
        const links = await nav.locator(`:scope > li:nth-child(${group}) a`).all();
        return Promise.all(links.map((link) => link.getAttribute('href')));
      };
      const guides = await linksOf(1);
      if (existsSync(join(root, 'docs/getting-started.md'))) expect(guides[0]).toBe('../guides/getting-started.html');
      else expect(guides[0]).toBe('../guides/isolation.html'); // the home page's table lists it first
      expect(guides).toContain('../guides/policy.html');
      const providers = await linksOf(2);
      expect(providers).toEqual(
        expect.arrayContaining(['../guides/providers/tpm.html', '../guides/providers/cng.html']),
      );
      await page.close();
    });

    it('the browser met no script errors and no missing files', () => {
      expect(pageErrors).toEqual([]);
      // Chromium asks every site for /favicon.ico by itself; no page links one.
      expect(served.missing.filter((path) => path !== '/favicon.ico')).toEqual([]);
    });
  },
);
