/**
 * The screenshots of issue 17 "Pictures": every page a person sees (tests/helpers/pages.ts) in every shipped
 * language, and in the Contoso example theme (docs/examples/contoso-theme), at 1280 × 800, into docs/screenshots/.
 * `npm run screenshots` (run.ts) writes them; tests/e2e/screenshots-browser.test.ts renders them again and compares.
 *
 * Deterministic by construction, nothing hidden: the clock is frozen, the randomness is re-seeded from the shot's
 * name before its page is reached (so the activity id, TOTP secret and other ids on a page are the same on every
 * run whatever was rendered before), the token-signing key is the committed test key, and every shot starts in a
 * fresh browser context (no cookies, no cache) with the same locale, time zone and viewport.
 */
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import {
  contosoBranding,
  launchPagesBrowser,
  PAGE_NAMES,
  pagesTls,
  REPO_ROOT,
  shippedLanguages,
  startPagesSite,
  type PageName,
  type PagesSite,
} from '../helpers/pages.ts';

export const SHOTS_DIR = join(REPO_ROOT, 'docs', 'screenshots');
export const SHOT_VIEWPORT = { width: 1280, height: 800 };

export type ShotTheme = 'default' | 'contoso';

export interface Shot {
  page: PageName;
  lang: string;
  theme: ShotTheme;
  /** File name in docs/screenshots: `<page>.<lang>.png`, or `<page>.contoso.<lang>.png` for the example theme. */
  file: string;
}

export function shot(page: PageName, lang: string, theme: ShotTheme = 'default'): Shot {
  const file = theme === 'default' ? `${page}.${lang}.png` : `${page}.${theme}.${lang}.png`;
  return { page, lang, theme, file };
}

/** Every page in every shipped language, and every page in the example theme in English. */
export function fullMatrix(languages = shippedLanguages()): Shot[] {
  const out: Shot[] = [];
  for (const lang of languages) for (const page of PAGE_NAMES) out.push(shot(page, lang));
  for (const page of PAGE_NAMES) out.push(shot(page, 'en', 'contoso'));
  return out;
}

/**
 * Pages whose rendering holds something the server draws from a source tests cannot inject: compared with the
 * committed image outside these elements only (they are still in the images, nothing is hidden). None today: the
 * TOTP secret of the enrolment page now comes from the injected Random (server/authn/mfa/totp.ts newTotpSecret).
 */
export const UNSTABLE_REGIONS: Partial<Record<PageName, readonly string[]>> = {};

/** A rectangle of the page, in device pixels. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Renders `shots`, handing each PNG (and the page's unstable regions) to `onShot`. One browser; `workers` sites of
 * each theme render their share in parallel (each shot is independent of what its site rendered before, so the
 * split does not change a picture).
 */
export async function renderShots(
  shots: readonly Shot[],
  onShot: (s: Shot, png: Buffer, unstable: Region[]) => void | Promise<void>,
  opts: { workers?: number } = {},
): Promise<void> {
  const browser: Browser = await launchPagesBrowser(pagesTls().spkiFlag);
  const workers = Math.max(1, Math.min(opts.workers ?? 1, shots.length));
  const sites: PagesSite[] = [];
  try {
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        const own = new Map<ShotTheme, PagesSite>();
        for (const s of shots.filter((_x, i) => i % workers === w)) {
          let site = own.get(s.theme);
          if (site === undefined) {
            site = await startPagesSite({
              browser,
              ...(s.theme === 'contoso' ? { config: contosoBranding() } : {}),
            });
            own.set(s.theme, site);
            sites.push(site);
          }
          const ctx = await site.newContext({ lang: s.lang, viewport: SHOT_VIEWPORT });
          try {
            const page = await ctx.newPage();
            await site.reach(page, s.page, `${s.page}.${s.lang}.${s.theme}`);
            const unstable: Region[] = [];
            for (const sel of UNSTABLE_REGIONS[s.page] ?? []) {
              const box = await page.locator(sel).boundingBox();
              if (box !== null) unstable.push(box);
            }
            // The caret would blink; it is left out of the picture (Playwright's caret: 'hide').
            const png = await page.screenshot({
              type: 'png',
              caret: 'hide',
              animations: 'disabled',
            });
            await onShot(s, png, unstable);
          } finally {
            await ctx.close();
          }
        }
      }),
    );
  } finally {
    for (const site of sites) await site.close();
    await browser.close();
  }
}
