// Every parser of admin-supplied branding input answers bent or random input with its own refusal (ThemeError,
// WebContentError) or a result, never another exception, a hang or a crash. A short seeded run (fixed seed,
// repeatable); tests/fuzz mutators bend real fixtures.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { checkMedia } from '../../../server/branding/assets.ts';
import { themeContrastWarnings } from '../../../server/branding/contrast.ts';
import { checkCss } from '../../../server/branding/css.ts';
import { checkSvg } from '../../../server/branding/svg.ts';
import { ThemeError } from '../../../server/branding/theme.ts';
import { parseAdfsWebContent, WebContentError } from '../../../server/branding/web-content.ts';
import { encode, encoding, mutated, noise } from '../../fuzz/mutate.ts';
import { fixture } from './fixtures.ts';

const RUNS = { numRuns: 400, seed: 17 };

function onlyRefusal(fn: () => unknown, ...allowed: (new (...a: never[]) => Error)[]): void {
  try {
    fn();
  } catch (err) {
    assert.ok(
      allowed.some((c) => err instanceof c),
      `unexpected ${(err as Error).name}: ${(err as Error).message}`,
    );
  }
}

const text = (seeds: string[]): fc.Arbitrary<string> =>
  fc.oneof(mutated(fc.constantFrom(...seeds)), noise(200));

describe('branding parsers under bent input', () => {
  test('checkCss', () => {
    const seeds = [
      fixture('adfs-export/contoso/css/style.css').toString('utf8'),
      'a { background: url("../img/x.png") } @font-face { src: url(f.woff2) } b::after { content: "\\2014" }',
    ];
    fc.assert(
      fc.property(text(seeds), (s) => {
        onlyRefusal(() => checkCss('style.css', Buffer.from(s), () => 'x.png'), ThemeError);
        themeContrastWarnings(s);
      }),
      RUNS,
    );
  });

  test('checkSvg', () => {
    const seeds = [
      fixture('svg/clean.svg').toString('utf8'),
      fixture('svg/animate-href.svg').toString('utf8'),
    ];
    fc.assert(
      fc.property(text(seeds), (s) => {
        onlyRefusal(() => {
          checkSvg('x.svg', Buffer.from(s));
        }, ThemeError);
      }),
      RUNS,
    );
  });

  test('checkMedia (bytes of every image kind, cut and flipped)', () => {
    const images = ['logo.png', 'logo.jpg', 'logo.gif', 'logo.webp', 'favicon.ico'].map((f) =>
      fixture(`images/${f}`),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...images),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('png', 'jpg', 'gif', 'webp', 'ico', 'svg', 'woff2'),
        (img, cut, at, byte, ext) => {
          const b = Buffer.from(img.subarray(0, cut % (img.length + 1)));
          if (b.length > 0) b[at % b.length] = byte;
          onlyRefusal(() => checkMedia(`x.${ext}`, ext, b, { fonts: true }), ThemeError);
        },
      ),
      RUNS,
    );
  });

  test('parseAdfsWebContent', () => {
    const seeds = [
      fixture('web-content.utf8.json').toString('utf8'),
      fixture('web-content.utf16le-bom.json').subarray(2).toString('utf16le'),
    ];
    fc.assert(
      fc.property(text(seeds), encoding(), (s, enc) => {
        onlyRefusal(() => parseAdfsWebContent(encode(s, enc)), WebContentError);
      }),
      RUNS,
    );
  });
});
