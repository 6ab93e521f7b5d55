// WCAG 2.x contrast (server/branding/contrast.ts) against known published values.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { contrastRatio, themeContrastWarnings } from '../../../server/branding/contrast.ts';

const round2 = (n: number): number => Math.round(n * 100) / 100;

describe('contrast', () => {
  test('known ratios (WCAG 2.2 Understanding 1.4.3 and common references)', () => {
    assert.equal(contrastRatio('#000', '#fff'), 21);
    assert.equal(contrastRatio('#ffffff', '#000000'), 21);
    assert.equal(round2(contrastRatio('#777', '#fff')), 4.48);
    assert.equal(round2(contrastRatio('#767676', '#ffffff')), 4.54);
    assert.equal(round2(contrastRatio('rgb(118, 118, 118)', 'white')), 4.54);
    assert.equal(round2(contrastRatio('rgb(0 0 255)', '#fff')), 8.59);
    assert.equal(round2(contrastRatio('#f00', '#fff')), 4);
    assert.equal(contrastRatio('#abc', '#abc'), 1);
  });

  test('an unreadable colour throws', () => {
    assert.throws(() => contrastRatio('hsl(0 0% 0%)', '#fff'), /cannot read the colour hsl/);
  });

  test('every failing pair is named with its ratio; passing and absent pairs are not', () => {
    const css = `:root {
      --fg: #1b1b1b; --bg: #ffffff; --card-bg: #ffffff;
      --muted: #999999;          /* 2.84:1 */
      --accent: #1f4e79; --accent-fg: #ffffff;
      --border: #dddddd;         /* non-text 3:1 needed */
      --link: var(--accent);     /* unreadable: skipped */
    }`;
    const w = themeContrastWarnings(css);
    assert.equal(w.length, 2, w.join('\n'));
    assert.match(
      w[0]!,
      /^contrast --muted \(#999999\) on --card-bg \(#ffffff\) is 2\.84:1, below 4\.5:1/,
    );
    assert.match(
      w[1]!,
      /^contrast --border \(#dddddd\) on --card-bg \(#ffffff\) is 1\.3\d:1, below 3:1/,
    );
  });

  test('a @media :root (dark scheme) is checked on top of the top-level values', () => {
    const css = `:root { --fg: #000; --bg: #fff; --card-bg: #fff }
      @media (prefers-color-scheme: dark) { :root { --bg: #111; --card-bg: #111 } body { color: red } }`;
    const w = themeContrastWarnings(css);
    assert.equal(w.length, 2);
    assert.ok(w.every((x) => x.includes('in @media (prefers-color-scheme: dark)')));
  });

  test('4.5:1 exactly passes; just below fails', () => {
    assert.deepEqual(themeContrastWarnings(':root{--fg:#767676;--bg:#fff}'), []);
    assert.equal(themeContrastWarnings(':root{--fg:#777;--bg:#fff}').length, 1);
  });
});
