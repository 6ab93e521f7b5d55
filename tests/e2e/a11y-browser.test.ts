/**
 * Issue 17 "Accessibility (WCAG 2.2 AA), tested in a real browser": axe-core (@axe-core/playwright, the WCAG 2.0,
 * 2.1 and 2.2 A/AA rules) in headless Chromium on every page a person sees (tests/helpers/pages.ts), in English
 * (left to right) and Arabic (right to left), in the light theme and in forced-colours mode (Windows contrast
 * themes), at a 320 px wide viewport and at 200 % zoom: zero violations. The example theme in
 * docs/examples/contoso-theme gets the same check.
 *
 * 200 % zoom is a 640 × 400 CSS px viewport at deviceScaleFactor 2: what Chromium lays out for a 1280 × 800 window
 * zoomed to 200 % (browser zoom changes the CSS px per device px, which is what the device scale factor does), so
 * media queries, reflow and text size behave as at real zoom. CSS `zoom` on the page would not change the
 * viewport's CSS width, so the page's narrow-screen rules would never apply: not what a user at 200 % sees.
 *
 * Beyond axe: no horizontal scrolling at 320 px and at 200 % (WCAG 1.4.10 reflow, which axe does not check), and the
 * page really is right to left in Arabic (lang="ar" dir="rtl"), so the RTL runs test what they say. Apart from
 * axe's verdict, each context also reports anything of the page's own that its Content-Security-Policy refuses
 * (the Caps Lock hint script, a style), since a refused part of a page is a part that silently does not work.
 *
 * One browser and one context per language and size; each page is reached once in it (from a browser without
 * cookies, PagesSite.reach) and checked in both colour modes.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import {
  contosoBranding,
  launchPagesBrowser,
  PAGE_NAMES,
  pagesTls,
  REPO_ROOT,
  startPagesSite,
  type PagesSite,
  type VariantOptions,
} from '../helpers/pages.ts';

const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

/** One browser context: a language and a size; each page in it is checked in light and in forced colours. */
interface Variant extends VariantOptions {
  name: string;
}

const NARROW = { width: 320, height: 640 };
const ZOOM_200 = { width: 640, height: 400 };
const MODES = ['light', 'forced colours'] as const;

function variants(lang: string): Variant[] {
  return [
    { name: `${lang}, 320px`, lang, viewport: NARROW },
    { name: `${lang}, 200% zoom`, lang, viewport: ZOOM_200, deviceScaleFactor: 2 },
  ];
}

/** What a violation looks like in a failure message: rule, impact, where, and axe's summary. */
function describeViolations(
  page: string,
  results: Awaited<ReturnType<AxeBuilder['analyze']>>,
): string[] {
  return results.violations.map(
    (v) =>
      `${page}: ${v.id} (${v.impact ?? '?'}) ${v.help} — ${v.nodes
        .slice(0, 4)
        .map((n) => `${n.target.join(' ')}: ${n.failureSummary?.replace(/\s+/g, ' ') ?? ''}`)
        .join(' | ')}`,
  );
}

async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
}

/**
 * Reaches every page once in one context and checks it in light and in forced-colours mode (emulated media, as a
 * Windows contrast theme): axe, reflow, lang/dir, and for a branded site that its theme is the one shown. Returns
 * every problem found, so one run reports them all.
 */
async function checkPages(
  site: PagesSite,
  v: Variant,
  theme?: { accent: string; illustration: boolean },
): Promise<{ problems: string[]; refused: string[] }> {
  const ctx = await site.newContext(v);
  const page = await ctx.newPage();
  // Reaching a page (sign-in, MFA steps) waits on selectors: 90 s rather than playwright's 30 s, for the same reason
  // as the stylesheet wait below (CI, issue 22: the Arabic MFA-enrolment page once took longer under the suite's load).
  page.setDefaultTimeout(90_000);
  const problems: string[] = [];
  // The pages keep their strict CSP (no inline style or script): a style or script of the page's own that its CSP
  // refuses (a console error) would mean that part of the page silently does not work, so it is reported apart.
  const refused: string[] = [];
  let current = '';
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text()))
      refused.push(`${current}: ${m.text()}`);
  });
  page.on('pageerror', (e) => refused.push(`${current}: script error ${e.message}`));
  try {
    for (const name of PAGE_NAMES) {
      current = name;
      await site.reach(page, name);
      // Every stylesheet loaded before axe runs: axe reads a sheet's rules through the CSSOM, and a sheet still
      // loading has none, so axe fetches it again with XMLHttpRequest, which the page's CSP (no connect-src) refuses
      // and reports as the page's own refusal ("Connecting to …theme/….css"): a race, not a page defect.
      // Bounded at 90 s, not playwright's 30 s: on 2 busy cores the whole suite's load once held a page past 30 s
      // (CI, issue 21). A page still not ready then fails with what it was waiting for.
      await page
        .waitForFunction(
          () =>
            document.readyState === 'complete' &&
            Array.from(document.querySelectorAll<HTMLLinkElement>('link[rel="stylesheet"]')).every(
              (l) => {
                try {
                  return l.sheet !== null && l.sheet.cssRules.length >= 0;
                } catch {
                  return false;
                }
              },
            ),
          undefined,
          // Checked every 250 ms, not on animation frames: a page starved of frames on a busy machine never re-checked
          // (CI, issue 22: not ready after 90 s while the state read right after showed every sheet loaded).
          { timeout: 90_000, polling: 250 },
        )
        .catch(async (err: unknown) => {
          const state = await page
            .evaluate(() => ({
              readyState: document.readyState,
              pending: Array.from(
                document.querySelectorAll<HTMLLinkElement>('link[rel="stylesheet"]'),
              )
                .filter((l) => l.sheet === null)
                .map((l) => l.href),
            }))
            .catch(() => undefined);
          throw new Error(
            `${name}: not ready for axe after 90 s (${JSON.stringify(state)}): ${String(err)}`,
          );
        });
      for (const mode of MODES) {
        await page.emulateMedia({ forcedColors: mode === 'light' ? 'none' : 'active' });
        const where = `${name} (${mode})`;
        const results = await new AxeBuilder({ page }).withTags(TAGS).analyze();
        problems.push(...describeViolations(where, results));
        if (results.passes.length === 0) problems.push(`${where}: axe checked nothing`);
        const overflow = await horizontalOverflow(page);
        if (overflow > 0)
          problems.push(`${where}: scrolls horizontally by ${String(overflow)} px (1.4.10 reflow)`);
      }
      if (theme !== undefined) {
        // The branded runs test the example theme only if it is the one on the page.
        const shown = await page.evaluate(() => ({
          accent: getComputedStyle(document.documentElement).getPropertyValue('--accent').trim(),
          illustration: document.querySelector('#illustration')?.checkVisibility() === true,
        }));
        // The token-posting page has no frame, so no illustration.
        const illustration = theme.illustration && name !== 'form-post';
        if (shown.accent !== theme.accent || shown.illustration !== illustration)
          problems.push(`${name}: theme not applied (${JSON.stringify(shown)})`);
      }
      const { lang, dir } = await page.evaluate(() => ({
        lang: document.documentElement.lang,
        dir: document.documentElement.dir,
      }));
      const wantDir = v.lang === 'ar' ? 'rtl' : 'ltr';
      if (lang.split('-')[0] !== v.lang || (dir || 'ltr') !== wantDir)
        problems.push(`${name}: <html lang="${lang}" dir="${dir}">, expected ${v.lang} ${wantDir}`);
    }
  } finally {
    await ctx.close();
  }
  return { problems, refused: [...new Set(refused)] };
}

/** The two verdicts of one context: axe (with reflow and direction), and nothing refused by the page's CSP. */
async function verdicts(t: TestContext, found: Promise<{ problems: string[]; refused: string[] }>) {
  const { problems, refused } = await found;
  await t.test('axe: no violations; no horizontal scrolling; lang and dir', () => {
    assert.deepEqual(problems, []);
  });
  await t.test('nothing the page loads is refused by its Content-Security-Policy', () => {
    assert.deepEqual(refused, []);
  });
}

const hasArabic = existsSync(join(REPO_ROOT, 'views', 'locales', 'ar.json'));

// Variants run concurrently (each in its own context; PagesSite.reach serialises what must not interleave).
describe(
  'accessibility: axe-core on every page in Chromium (WCAG 2.2 AA)',
  { concurrency: 4 },
  () => {
    let browser: Browser;
    let site: PagesSite;
    let contoso: PagesSite;

    before(async () => {
      browser = await launchPagesBrowser(pagesTls().spkiFlag);
      site = await startPagesSite({ browser });
      contoso = await startPagesSite({ browser, config: contosoBranding() });
    });
    after(async () => {
      await contoso.close();
      await site.close();
      await browser.close();
    });

    for (const v of variants('en')) {
      test(`shipped theme, ${v.name}, light and forced colours`, async (t) => {
        await verdicts(t, checkPages(site, v));
      });
    }
    for (const v of variants('ar')) {
      // The Arabic catalogue is another part of issue 17; without it there is no right-to-left page to test, and
      // the run says so (skipped, never passed).
      test(
        `shipped theme, ${v.name} (right to left), light and forced colours`,
        { skip: hasArabic ? false : 'views/locales/ar.json does not exist' },
        async (t) => {
          await verdicts(t, checkPages(site, v));
        },
      );
    }

    // The illustration is beside the card on wide screens only.
    const branded: (Variant & { illustration: boolean })[] = [
      { name: 'en, 1280px (illustration beside the card)', lang: 'en', illustration: true },
      {
        name: `${hasArabic ? 'ar' : 'en'}, 320px`,
        lang: hasArabic ? 'ar' : 'en',
        viewport: NARROW,
        illustration: false,
      },
    ];
    for (const v of branded) {
      test(`example theme (docs/examples/contoso-theme), ${v.name}, light and forced colours`, async (t) => {
        await verdicts(
          t,
          checkPages(contoso, v, { accent: '#00695c', illustration: v.illustration }),
        );
      });
    }
  },
);
