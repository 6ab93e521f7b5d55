/**
 * Issue 17 "A test compares the rendered pages with those images within a tolerance, so a broken layout is caught":
 * the pages are rendered again in headless Chromium exactly as `npm run screenshots` renders them
 * (tests/screenshots/shots.ts) and compared with the committed PNGs in docs/screenshots/ by pixelmatch (pngjs
 * decodes): at most 1 % of the pixels may differ, a pixel counting as different at pixelmatch's threshold 0.1
 * (anti-aliased edges are not counted). A card that loses its width, a stylesheet that does not load, a page that
 * changes language or direction moves far more than that.
 *
 * To keep `npm test` short this is a representative subset of `npm run screenshots`: every page in English, Arabic
 * (right to left) and Japanese (CJK glyphs), the sign-in page in every other shipped language, and four pages in the
 * Contoso example theme. A language without a catalogue yet is left out (the list comes from views/locales/).
 *
 * When a page or the theme changes on purpose: `npm run screenshots`, look at the images, commit them. On a
 * mismatch the rendered image and a diff image are written to a temporary folder named in the failure.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pixelmatch from 'pixelmatch';
import { PNG } from 'pngjs';
import { PAGE_NAMES, shippedLanguages, type PageName } from '../helpers/pages.ts';
import { renderShots, shot, SHOTS_DIR, type Region, type Shot } from '../screenshots/shots.ts';

const MAX_DIFFERING = 0.01;
const THRESHOLD = 0.1;

function subset(): Shot[] {
  const langs = shippedLanguages();
  const everyPage = ['en', 'ar', 'ja'].filter((l) => langs.includes(l));
  const out: Shot[] = [];
  for (const lang of everyPage) for (const page of PAGE_NAMES) out.push(shot(page, lang));
  for (const lang of langs) if (!everyPage.includes(lang)) out.push(shot('signin', lang));
  const branded: PageName[] = ['signin', 'signin-error', 'mfa-choice', 'error'];
  for (const page of branded) out.push(shot(page, 'en', 'contoso'));
  return out;
}

/** Paints `regions` black in a decoded image (both images get the same, so they compare equal there). */
function blank(img: PNG, regions: readonly Region[]): void {
  for (const r of regions) {
    const x0 = Math.max(0, Math.floor(r.x));
    const y0 = Math.max(0, Math.floor(r.y));
    const x1 = Math.min(img.width, Math.ceil(r.x + r.width));
    const y1 = Math.min(img.height, Math.ceil(r.y + r.height));
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++)
        img.data.fill(0, (y * img.width + x) * 4, (y * img.width + x) * 4 + 3);
  }
}

interface Outcome {
  shot: Shot;
  problem?: string;
  differing?: number;
}

test('the pages look like docs/screenshots (pixelmatch, at most 1 % of pixels differ)', async (t) => {
  const shots = subset();
  const out = mkdtempSync(join(tmpdir(), 'fedgate-screenshots-'));
  const outcomes: Outcome[] = [];
  await renderShots(
    shots,
    (s, png, unstable) => {
      const file = join(SHOTS_DIR, s.file);
      if (!existsSync(file)) {
        outcomes.push({
          shot: s,
          problem: `docs/screenshots/${s.file} is missing: run npm run screenshots`,
        });
        return;
      }
      const want = PNG.sync.read(readFileSync(file));
      const got = PNG.sync.read(png);
      if (want.width !== got.width || want.height !== got.height) {
        outcomes.push({
          shot: s,
          problem: `${s.file}: ${String(got.width)}×${String(got.height)} rendered, ${String(want.width)}×${String(want.height)} committed`,
        });
        return;
      }
      blank(want, unstable);
      blank(got, unstable);
      const diff = new PNG({ width: want.width, height: want.height });
      const differing =
        pixelmatch(want.data, got.data, diff.data, want.width, want.height, {
          threshold: THRESHOLD,
        }) /
        (want.width * want.height);
      if (differing > MAX_DIFFERING) {
        writeFileSync(join(out, s.file), png);
        writeFileSync(join(out, s.file.replace(/\.png$/, '.diff.png')), PNG.sync.write(diff));
        outcomes.push({
          shot: s,
          differing,
          problem: `${s.file}: ${(differing * 100).toFixed(2)} % of pixels differ (rendered and diff images in ${out})`,
        });
        return;
      }
      outcomes.push({ shot: s, differing });
    },
    { workers: 2 },
  );
  assert.equal(outcomes.length, shots.length, 'every page was rendered');
  for (const o of outcomes) {
    await t.test(o.shot.file, () => {
      assert.equal(o.problem, undefined, o.problem);
    });
  }
});
