// Theme folders (server/branding/theme.ts, css.ts): the Export-AdfsWebTheme layout, per-locale images, stylesheet
// checks and url() rewriting to hashed names. Every refusal names the file and the reason.
import assert from 'node:assert/strict';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hashedName, MAX_STYLESHEET_BYTES } from '../../../server/branding/assets.ts';
import { checkCss } from '../../../server/branding/css.ts';
import {
  loadTheme,
  ONLOAD_WARNING,
  pickLocalised,
  ThemeError,
  type Theme,
} from '../../../server/branding/theme.ts';
import { fixture, FIXTURES, themeDir } from './fixtures.ts';

const png = fixture('images/logo.png');
const pngDe = fixture('images/logo-de.png');
const gif = fixture('images/logo.gif');

function css(theme: Theme, which: 'stylesheet' | 'rtlStylesheet' = 'stylesheet'): string {
  const name = theme[which];
  assert.ok(name !== undefined);
  return theme.assets.get(name)!.body.toString('utf8');
}

function refusedTheme(files: Record<string, string | Buffer>, file: string, reason: RegExp): void {
  const dir = themeDir(files);
  assert.throws(
    () => loadTheme(dir, 't'),
    (err: unknown) => {
      assert.ok(err instanceof ThemeError, String(err));
      assert.equal(err.file, join(dir, file));
      assert.match(err.reason, reason);
      return true;
    },
  );
}

describe('theme folder', () => {
  test('the AD FS export fixture loads: stylesheets, localised logo, illustration, url() rewritten', () => {
    const dir = join(FIXTURES, 'adfs-export/contoso');
    const t = loadTheme(dir, 'contoso');
    assert.equal(t.name, 'contoso');
    const bullet = hashedName(gif, 'gif');
    assert.match(css(t), new RegExp(`list-style-image: url\\("${bullet}"\\)`));
    assert.doesNotMatch(css(t), /\.\.\/images/);
    assert.match(css(t, 'rtlStylesheet'), new RegExp(`url\\("${bullet}"\\)`));
    assert.equal(t.assets.get(bullet)?.type, 'image/gif');
    assert.equal(t.assets.get(t.stylesheet!)?.type, 'text/css; charset=utf-8');
    assert.equal(t.stylesheet, hashedName(t.assets.get(t.stylesheet!)!.body, 'css'));
    assert.deepEqual(t.logo, {
      invariant: hashedName(png, 'png'),
      byLocale: { de: hashedName(pngDe, 'png') },
    });
    assert.equal(t.illustration?.invariant, hashedName(fixture('images/illustration.png'), 'png'));
    // Every servable file, and nothing else (onload.js is not served).
    assert.equal(t.assets.size, 6);
    assert.ok([...t.assets.values()].every((a) => a.type !== 'text/javascript'));
    assert.deepEqual(t.warnings, [`${join(dir, 'script/onload.js')}: ${ONLOAD_WARNING}`]);
    assert.match(ONLOAD_WARNING, /Content-Security-Policy/);
  });

  test('an empty folder is a theme with nothing in it; a missing one is refused', () => {
    const t = loadTheme(themeDir({}), 'empty');
    assert.equal(t.stylesheet, undefined);
    assert.equal(t.assets.size, 0);
    const missing = join(themeDir({}), 'nope');
    assert.throws(
      () => loadTheme(missing, 'x'),
      new ThemeError(missing, 'the theme folder does not exist'),
    );
  });

  test('locale variants: logo.de-DE.png, logo/fr/<any>.png; pickLocalised falls back de-at -> de -> invariant', () => {
    const t = loadTheme(
      themeDir({ 'logo/logo.png': png, 'logo/logo.de-DE.png': pngDe, 'logo/fr/marque.gif': gif }),
      't',
    );
    const inv = hashedName(png, 'png');
    const de = hashedName(pngDe, 'png');
    assert.deepEqual(t.logo?.byLocale, { 'de-de': de, fr: hashedName(gif, 'gif') });
    assert.equal(pickLocalised(t.logo, 'de-DE'), de);
    assert.equal(pickLocalised(t.logo, 'de_de'), de);
    assert.equal(pickLocalised(t.logo, 'de'), inv);
    assert.equal(pickLocalised(t.logo, 'fr-CA'), hashedName(gif, 'gif'));
    assert.equal(pickLocalised(t.logo, 'ja'), inv);
    assert.equal(pickLocalised(t.logo, 'constructor'), inv);
    assert.equal(pickLocalised(undefined, 'de'), undefined);
    const t2 = loadTheme(themeDir({ 'logo/logo.de.png': pngDe, 'logo/logo.png': png }), 't');
    assert.equal(pickLocalised(t2.logo, 'de-AT'), de);
  });

  test('a lone image in logo/ is the invariant logo whatever its name', () => {
    const t = loadTheme(themeDir({ 'logo/contoso-logo.png': png }), 't');
    assert.equal(t.logo?.invariant, hashedName(png, 'png'));
  });

  test('two images in logo/ that do not name a locale are refused', () => {
    refusedTheme(
      { 'logo/a.png': png, 'logo/b.png': pngDe },
      'logo/a.png',
      /cannot tell which locale this logo is for/,
    );
  });

  test('two invariant logos are refused', () => {
    refusedTheme(
      { 'logo/logo.png': png, 'logo/logo.gif': gif },
      'logo/logo.png',
      /a second invariant logo/,
    );
  });

  test('a bad logo is refused with its file name', () => {
    refusedTheme({ 'logo/logo.png': gif }, 'logo/logo.png', /content is image\/gif/);
    refusedTheme(
      { 'illustration/illustration.svg': fixture('svg/script.svg') },
      'illustration/illustration.svg',
      /<script>/,
    );
  });

  test('other files are ignored with a warning; web-content.yaml and dot files quietly', () => {
    const dir = themeDir({
      'notes.docx': 'x',
      'web-content.yaml': 'branding: {}',
      '.DS_Store': 'x',
      'css/extra.css': 'a{}',
    });
    const t = loadTheme(dir, 't');
    assert.deepEqual(
      t.warnings.map((w) => w.split(':')[0]),
      [join(dir, 'css/extra.css'), join(dir, 'notes.docx')],
    );
    assert.match(t.warnings[0]!, /ignored/);
  });
});

describe('theme stylesheet', () => {
  const ok = (text: string, files: Record<string, string | Buffer> = {}): Theme =>
    loadTheme(themeDir({ 'css/style.css': text, ...files }), 't');
  const bad = (text: string, reason: RegExp, files: Record<string, string | Buffer> = {}): void => {
    refusedTheme({ 'css/style.css': text, ...files }, 'css/style.css', reason);
  };

  test('@import is refused, also when spelled with an escape', () => {
    bad('@import url("x.css");', /@import is not accepted/);
    bad('@IMPORT "x.css";', /@import is not accepted/);
    bad('@\\69mport "x.css";', /@import is not accepted/);
  });
  test('expression() is refused', () => {
    bad('a { width: expression(alert(1)) }', /expression\(\) is not accepted/);
  });
  test('javascript: in url() is refused', () => {
    bad('a { background: url("javascript:alert(1)") }', /points outside the theme/);
    bad('a { background: url(JavaScript:alert) }', /points outside the theme/);
    // Unquoted with a parenthesis: a bad url token (CSS Syntax §4.3.6), refused as such.
    bad('a { background: url(javascript:alert(1)) }', /malformed url\(\)/);
  });
  test('http(s) and protocol-relative url() are refused', () => {
    bad(
      'a { background: url(https://cdn.example/x.png) }',
      /url\(https:\/\/cdn\.example\/x\.png\) points outside the theme/,
    );
    bad("a { background: url('http://cdn.example/x.png') }", /points outside the theme/);
    bad('a { background: url(//cdn.example/x.png) }', /points outside the theme/);
    bad('a { background: u\\72l(https://cdn.example/x.png) }', /points outside the theme/);
    bad('a { background: URL( "https://cdn.example/x.png" ) }', /points outside the theme/);
  });
  test('an absolute path and a path out of the folder are refused', () => {
    bad('a { background: url(/adfs/portal/x.png) }', /absolute path/);
    bad('a { background: url(../../x.png) }', /points outside the theme folder/);
  });
  test('image-set(), behavior and -moz-binding are refused', () => {
    bad(
      'a { background: image-set("https://cdn.example/x.png" 1x) }',
      /image-set\(\) is not accepted/,
    );
    bad('a { behavior: url(x.htc) }', /behavior property/);
  });
  test('data: images are kept as they are, other data: URIs refused', () => {
    const t = ok('a { background: url(data:image/png;base64,iVBORw0KGgo=) }');
    assert.match(css(t), /url\(data:image\/png;base64,iVBORw0KGgo=\)/);
    bad('a { background: url("data:text/html,<script>alert(1)</script>") }', /only data:image/);
  });
  test('url() in a comment or a string is not a reference', () => {
    const t = ok(
      '/* url(https://cdn.example/x.png) @import "y"; */ a::before { content: "url(https://x)" }',
    );
    assert.match(css(t), /content: "url\(https:\/\/x\)"/);
  });
  test('relative url() to theme files is checked and rewritten to the hashed name; query and fragment dropped', () => {
    const t = ok(
      'a { background: url(../img/bg.png) } b { background: url("../img/bg.png?v=2#x") } @font-face { src: url(fonts/f.woff2) }',
      { 'img/bg.png': png, 'css/fonts/f.woff2': woff2() },
    );
    const name = hashedName(png, 'png');
    assert.equal(css(t).match(new RegExp(`url\\("${name}"\\)`, 'g'))?.length, 2);
    assert.ok(t.assets.has(name));
    assert.match(css(t), new RegExp(`url\\("${hashedName(woff2(), 'woff2')}"\\)`));
  });
  test('the stylesheet hash changes when a picture it uses changes', () => {
    const a = ok('a { background: url(../img/bg.png) }', { 'img/bg.png': png });
    const b = ok('a { background: url(../img/bg.png) }', { 'img/bg.png': pngDe });
    assert.notEqual(a.stylesheet, b.stylesheet);
  });
  test('a url() to a missing file names both files', () => {
    const dir = themeDir({ 'css/style.css': 'a { background: url(../img/missing.png) }' });
    assert.throws(
      () => loadTheme(dir, 't'),
      (err: unknown) => {
        assert.ok(err instanceof ThemeError);
        assert.equal(err.file, join(dir, 'css/style.css'));
        assert.ok(err.reason.includes(join(dir, 'img/missing.png')), err.reason);
        return true;
      },
    );
  });
  test('a url() to a bad file names both files', () => {
    const dir = themeDir({
      'css/style.css': 'a { background: url(../img/x.png) }',
      'img/x.png': '<svg onload=alert(1)>',
    });
    assert.throws(
      () => loadTheme(dir, 't'),
      (err: unknown) => {
        assert.ok(err instanceof ThemeError);
        assert.equal(err.file, join(dir, 'img/x.png'));
        assert.match(err.reason, /not image\/png.*referenced from .*css\/style\.css/);
        return true;
      },
    );
  });
  test('a stylesheet that is not UTF-8 is refused', () => {
    bad(Buffer.from([0x61, 0x7b, 0xff, 0xfe, 0x7d]) as unknown as string, /must be UTF-8/);
  });
  test('a stylesheet over 256 KiB is refused; at the limit it is accepted', () => {
    const fill = (n: number): string => `/*${'x'.repeat(n - 4)}*/`;
    bad(fill(MAX_STYLESHEET_BYTES + 1), /262145 bytes is larger than the 262144 bytes/);
    ok(fill(MAX_STYLESHEET_BYTES));
  });
  test('checkCss refuses an oversized stylesheet by itself (callers that did not stat a file)', () => {
    const big = Buffer.alloc(MAX_STYLESHEET_BYTES + 1, 0x20);
    assert.throws(
      () => checkCss('style.css', big, () => 'x'),
      new ThemeError(
        'style.css',
        '262145 bytes is larger than the 262144 bytes (256 KiB) allowed for a stylesheet',
      ),
    );
  });
  test('a huge file is refused from its size before it is read', () => {
    // A sparse 3 GiB file: read whole, it would fail as too large for a buffer (or exhaust memory); the size is
    // checked first and named.
    const dir = themeDir({});
    mkdirSync(join(dir, 'logo'));
    writeFileSync(join(dir, 'logo/logo.png'), '');
    truncateSync(join(dir, 'logo/logo.png'), 3 * 1024 ** 3);
    assert.throws(
      () => loadTheme(dir, 't'),
      new ThemeError(
        join(dir, 'logo/logo.png'),
        '3221225472 bytes is larger than the 1048576 bytes (1024 KiB) allowed for an image',
      ),
    );
  });
  test('low contrast is a warning naming the pair and the ratio', () => {
    const t = ok(':root { --fg: #777; --bg: #fff; --card-bg: #fff; }');
    assert.equal(t.warnings.length, 2);
    assert.match(
      t.warnings[0]!,
      /css\/style\.css: contrast --fg \(#777\) on --bg \(#fff\) is 4\.4\d:1, below 4\.5:1/,
    );
  });
});

function woff2(): Buffer {
  const b = Buffer.alloc(48);
  b.write('wOF2', 0, 'latin1');
  b.writeUInt32BE(48, 8);
  return b;
}
