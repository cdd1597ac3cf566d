// tools/book/test_book.js — the book in a real browser (make test-docs).
//
// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) opens every page of
// docs/book/ from file:// with no network and checks what a reader would see:
//   - KaTeX rendered every formula: no .katex-error, and no math element left unrendered;
//   - every image loaded (complete and naturalWidth > 0);
//   - every link inside the book resolves (the page exists, and so does the #anchor in it),
//     and every link to a repository file points at a file that exists;
//   - no console error, no uncaught exception, no failed request;
//   - previous/next: the bars agree with each other and with their neighbours, and "next" from
//     the contents page walks through every chapter in order;
// and saves a screenshot of the top of each page in SHOTS (default docs/book-test/).
// Prints one line per page, a summary, and "N passed, M failed" (one check per page and kind).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { pathToFileURL, fileURLToPath } = require('url');
const { chromium } = require('playwright-core');

const BOOK = path.resolve(process.argv[2] || 'docs/book');
const SHOTS = path.resolve(process.argv[3] || 'docs/book-test');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

async function main() {
  const pages = fs.readdirSync(BOOK).filter((f) => f.endsWith('.html')).sort();
  if (pages.length === 0) throw new Error(`no pages in ${BOOK}`);
  fs.mkdirSync(SHOTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'book-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 1400 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // offline: anything that is not a local file is refused (and reported as a failed request)
  await ctx.route(/^(?!file:)/, (route) => route.abort());
  let passed = 0, failed = 0;
  const totals = { katex: 0, katexErrors: 0, images: 0, imagesBroken: 0, missingPlots: 0,
                   links: 0, linksBroken: 0, console: 0 };
  const ids = {};          // page -> Set of element ids
  const navs = {};         // page -> its previous/next/contents links (top and bottom bars)
  const linksToCheck = []; // [page, href]
  const check = (ok, what) => { if (ok) passed++; else { failed++; console.log(`FAIL ${what}`); } };

  for (const name of pages) {
    const page = await ctx.newPage();
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    await page.goto(pathToFileURL(path.join(BOOK, name)).href, { waitUntil: 'load' });
    // pandoc's KaTeX script renders on DOMContentLoaded; wait until no .math span is left raw
    await page.waitForFunction(() => [...document.querySelectorAll('span.math')]
      .every((e) => e.querySelector('.katex, .katex-error')), null, { timeout: 20000 }).catch(() => {});
    await page.evaluate(() => document.fonts.ready);
    const r = await page.evaluate(() => {
      const imgs = [...document.images];
      return {
        math: document.querySelectorAll('span.math').length,
        katex: document.querySelectorAll('span.math .katex').length,
        katexErrors: document.querySelectorAll('.katex-error').length,
        errorTexts: [...document.querySelectorAll('.katex-error')].slice(0, 3).map((e) => e.title || e.textContent),
        images: imgs.length,
        broken: imgs.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.getAttribute('src')),
        missingPlots: document.querySelectorAll('.missing-plot').length,
        ids: [...document.querySelectorAll('[id]')].map((e) => e.id),
        links: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')),
        nav: ['prev', 'next', 'contents'].map((k) => [...document.querySelectorAll(`nav.book-nav a.${k}`)]
          .map((a) => a.getAttribute('href'))),
      };
    });
    ids[name] = new Set(r.ids);
    navs[name] = { prev: r.nav[0], next: r.nav[1], contents: r.nav[2] };
    for (const h of r.links) linksToCheck.push([name, h]);
    totals.katex += r.katex; totals.katexErrors += r.katexErrors; totals.images += r.images;
    totals.imagesBroken += r.broken.length; totals.missingPlots += r.missingPlots; totals.console += errors.length;
    await page.screenshot({ path: path.join(SHOTS, name.replace(/\.html$/, '.png')) });
    console.log(`${name}: ${r.katex}/${r.math} formulas rendered, ${r.katexErrors} KaTeX errors, ` +
                `${r.images - r.broken.length}/${r.images} images loaded` +
                (r.missingPlots ? `, ${r.missingPlots} plots not built (skipped)` : '') +
                `, ${r.links.length} links, ${errors.length} console errors`);
    check(r.katexErrors === 0 && r.katex === r.math, `${name}: KaTeX: ${r.katexErrors} errors, ` +
          `${r.math - r.katex} formulas unrendered ${JSON.stringify(r.errorTexts)}`);
    check(r.broken.length === 0, `${name}: images not loaded: ${r.broken.join(', ')}`);
    check(errors.length === 0, `${name}: console errors: ${errors.slice(0, 5).join(' | ')}`);
    await page.close();
  }

  // previous/next: every page but the contents has both bars (top and bottom) with a Contents
  // link; the bars agree; A's next is B exactly when B's previous is A; and following "next"
  // from the contents page reads every chapter once, in order
  for (const name of pages) {
    if (name === 'index.html') continue;
    const n = navs[name];
    const same = (l) => l.length === 0 || l.every((h) => h === l[0]);
    let ok = n.contents.length === 2 && n.contents.every((h) => h === 'index.html') && same(n.prev) && same(n.next) &&
      n.prev.length + n.next.length > 0;
    if (ok && n.next.length) ok = (navs[n.next[0]] || { prev: [] }).prev[0] === name;
    if (ok && n.prev.length) ok = (navs[n.prev[0]] || { next: [] }).next[0] === name;
    check(ok, `${name}: previous/next bars inconsistent: ${JSON.stringify(n)}`);
  }
  const chain = [];
  for (let p = (navs['index.html'] || { next: [] }).next[0]; p && !chain.includes(p); p = navs[p] && navs[p].next[0]) chain.push(p);
  const chapterPages = pages.filter((p) => /^\d\d_.*\.html$/.test(p));
  check(JSON.stringify(chain) === JSON.stringify(chapterPages),
        `next links from the contents read ${JSON.stringify(chain)}, expected the chapters ${JSON.stringify(chapterPages)}`);
  totals.navChain = chain.length;

  // links: into the book (page and anchor must exist) or to repository files (must exist)
  const badLinks = {};
  for (const [from, href] of linksToCheck) {
    if (/^(https?|mailto):/.test(href)) continue;  // external: not followed (offline), not counted
    totals.links++;
    const url = new URL(href, pathToFileURL(path.join(BOOK, from)).href);
    const file = fileURLToPath(url.href.replace(/#.*$/, ''));
    let ok = fs.existsSync(file);
    const frag = decodeURIComponent(url.hash.replace(/^#/, ''));
    if (ok && frag) {
      const rel = path.relative(BOOK, file);
      ok = rel in ids ? ids[rel].has(frag) : true;  // anchors are checked on the book's pages
    }
    if (!ok) { totals.linksBroken++; (badLinks[from] = badLinks[from] || []).push(href); }
  }
  for (const name of pages) {
    check(!badLinks[name], `${name}: broken links: ${(badLinks[name] || []).slice(0, 8).join(', ')}`);
  }
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
  console.log(`\ntest-docs: ${pages.length} pages, ${totals.katex} formulas rendered by KaTeX, ` +
              `${totals.katexErrors} KaTeX errors, ${totals.images - totals.imagesBroken}/${totals.images} ` +
              `images loaded, ${totals.missingPlots} plots not built, ` +
              `${totals.links - totals.linksBroken}/${totals.links} links resolve, ` +
              `${totals.navChain} chapters in the next-link chain, ` +
              `${totals.console} console errors; screenshots in ${path.relative(process.cwd(), SHOTS)}/`);
  console.log(`test-docs: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(`test-docs: ${e.stack || e}`); process.exit(2); });
