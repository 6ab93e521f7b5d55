/**
 * `npm run screenshots`: renders every page in every shipped language (views/locales/*.json) and in the Contoso
 * example theme into docs/screenshots/ (see shots.ts), and writes docs/screenshots/README.md listing them.
 * Needs the machine the tests use (Chromium at /usr/bin/chromium; fonts-dejavu-core and fonts-ipafont-gothic,
 * installed by tests/setup/prepare.sh, for Arabic and Japanese glyphs).
 *
 *   npm run screenshots                  every shot
 *   npm run screenshots -- signin de     only the shots whose file name contains every word given
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { PAGE_NAMES, PAGE_TITLES, shippedLanguages } from '../helpers/pages.ts';
import { fullMatrix, renderShots, shot, SHOTS_DIR } from './shots.ts';

const words = process.argv.slice(2);
const all = fullMatrix();
const chosen = all.filter((s) => words.every((w) => s.file.includes(w)));
if (chosen.length === 0) {
  console.error(`no screenshot matches ${words.join(' ')}`);
  process.exit(1);
}

mkdirSync(SHOTS_DIR, { recursive: true });
const started = performance.now();
await renderShots(
  chosen,
  (s, png) => {
    writeFileSync(join(SHOTS_DIR, s.file), png);
    console.log(`docs/screenshots/${s.file}`);
  },
  { workers: 4 },
);

const langs = shippedLanguages();
const lines = [
  '# Screenshots',
  '',
  'Every page fedgate shows a person, in every shipped language and in the [Contoso example theme]' +
    '(../examples/contoso-theme), at 1280 × 800. Made by `npm run screenshots` (tests/screenshots/run.ts);',
  '`tests/e2e/screenshots-browser.test.ts` renders the pages again and compares them with these files, so a broken',
  'layout fails the tests. After an intended change of a page or the theme, run `npm run screenshots` and commit the',
  'images.',
  '',
  `| Page | ${langs.join(' | ')} | Contoso |`,
  `| --- | ${langs.map(() => '---').join(' | ')} | --- |`,
  ...PAGE_NAMES.map(
    (p) =>
      `| ${PAGE_TITLES[p]} | ${langs.map((l) => `[${l}](${shot(p, l).file})`).join(' | ')} | [en](${shot(p, 'en', 'contoso').file}) |`,
  ),
  '',
  '![Sign-in, English](signin.en.png)',
  '',
  '![Sign-in, Contoso example theme](signin.contoso.en.png)',
  '',
];
if (words.length === 0) {
  // Formatted as the repository's prettier check wants it (npm test runs prettier --check .).
  const readme = join(SHOTS_DIR, 'README.md');
  const options = (await resolveConfig(readme)) ?? {};
  writeFileSync(readme, await format(lines.join('\n'), { ...options, filepath: readme }));
}
console.log(
  `${String(chosen.length)} screenshots in ${String(Math.round((performance.now() - started) / 1000))} s`,
);
