// SVG logos and illustrations hold drawing only (server/branding/svg.ts; issue 17 "no SVG scripts"). Each hostile
// file below differs from a harmless SVG in exactly the construct its defence refuses; the reason is asserted, so
// a test fails when its own defence is removed even where another check would still refuse the file.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkSvg, SVG_HEADERS } from '../../../server/branding/svg.ts';
import { checkMedia } from '../../../server/branding/assets.ts';
import { ThemeError } from '../../../server/branding/theme.ts';
import { fixture } from './fixtures.ts';

function refusedSvg(name: string, reason: RegExp, body: Buffer = fixture(`svg/${name}`)): void {
  assert.throws(
    () => {
      checkSvg(`logo/${name}`, body);
    },
    (err: unknown) => {
      assert.ok(err instanceof ThemeError, String(err));
      assert.equal(err.file, `logo/${name}`);
      assert.match(err.reason, reason);
      return true;
    },
  );
}

const svg = (inner: string, attrs = ''): Buffer =>
  Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10"${attrs}>${inner}</svg>`,
  );

describe('SVG checks', () => {
  test('a clean SVG (gradient, fragment refs, inline style, data: PNG) is accepted and served with its own CSP', () => {
    checkSvg('logo/clean.svg', fixture('svg/clean.svg'));
    const a = checkMedia('logo/clean.svg', 'svg', fixture('svg/clean.svg'));
    assert.equal(a.type, 'image/svg+xml');
    assert.equal(
      a.headers?.['Content-Security-Policy'],
      "default-src 'none'; style-src 'unsafe-inline'",
    );
    assert.equal(a.headers, SVG_HEADERS);
  });

  test('<script> is refused', () => {
    refusedSvg('script.svg', /<script> is not accepted/);
  });
  test('an onload attribute is refused', () => {
    refusedSvg('onload.svg', /event attribute onload/);
  });
  test('an event attribute in any case is refused', () => {
    refusedSvg('x.svg', /event attribute ONCLICK/, svg('<rect ONCLICK="alert(1)"/>'));
  });
  test('<foreignObject> is refused', () => {
    refusedSvg('foreign-object.svg', /<foreignObject> is not accepted/);
  });
  test('an external href is refused', () => {
    refusedSvg(
      'external-href.svg',
      /href="https:\/\/evil\.example\/track\.png" on <image> points outside/,
    );
  });
  test('a javascript: xlink:href is refused', () => {
    refusedSvg(
      'javascript-href.svg',
      /xlink:href="javascript:alert\(document\.cookie\)" on <a> points outside/,
    );
  });
  test('a data:image/svg+xml href is refused (a nested document)', () => {
    refusedSvg(
      'x.svg',
      /points outside/,
      svg('<image href="data:image/svg+xml;base64,PHN2Zz4="/>'),
    );
  });
  test('a DOCTYPE with an entity is refused', () => {
    refusedSvg('doctype-entity.svg', /DOCTYPE or entity declaration is refused/);
  });
  test('<style> with @import is refused', () => {
    refusedSvg('style-import.svg', /<style>: @import is not accepted/);
  });
  test('<style> with an external url() is refused', () => {
    refusedSvg(
      'style-external-url.svg',
      /<style>: url\(https:\/\/evil\.example\/p\.svg#x\) points outside/,
    );
  });
  test('a style attribute with an external url() is refused', () => {
    refusedSvg(
      'x.svg',
      /style on <rect>: url\(\/\/evil\.example\/x\.png\) points outside/,
      svg('<rect style="fill: url(//evil.example/x.png)"/>'),
    );
  });
  test('a presentation attribute with an external url() is refused', () => {
    refusedSvg(
      'x.svg',
      /filter on <rect>: url\(https:/,
      svg('<rect filter="url(https://evil.example/f.svg#f)"/>'),
    );
  });
  test('CSS escapes in an SVG style are refused (they could spell @import)', () => {
    refusedSvg(
      'x.svg',
      /CSS escapes/,
      svg('<style>@\\69mport "https://evil.example/x.css";</style>'),
    );
  });
  test('<set attributeName="href"> is refused (animating a link into javascript:)', () => {
    refusedSvg('animate-href.svg', /<set> animates href/);
  });
  test('a javascript: URL in any attribute is refused', () => {
    refusedSvg(
      'x.svg',
      /script URL in values on <animate>/,
      svg('<animate attributeName="fill" values="java\tscript:alert(1)"/>'),
    );
  });
  test('an element in the XHTML namespace is refused', () => {
    refusedSvg('xhtml-element.svg', /HTML element <h:iframe> is not accepted/);
  });
  test('a processing instruction (xml-stylesheet) inside is refused', () => {
    refusedSvg('stylesheet-pi.svg', /processing instructions are not accepted/);
  });
  test('a root without the SVG namespace is refused', () => {
    refusedSvg('no-namespace.svg', /root element must be <svg> in the namespace/);
  });
  test('a root that is not svg is refused', () => {
    refusedSvg(
      'x.svg',
      /root element must be <svg>/,
      Buffer.from('<html xmlns="http://www.w3.org/2000/svg"/>'),
    );
  });
  test('something that is not XML is refused', () => {
    refusedSvg(
      'x.svg',
      /not an accepted SVG/,
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>'),
    );
  });
  test('UTF-16 text is refused (SVG must be UTF-8)', () => {
    refusedSvg('x.svg', /must be UTF-8/, Buffer.from([0xff, 0xfe, 0x3c, 0x00, 0xd8, 0x00]));
  });

  test('the element count is capped', () => {
    // A literal count, so raising the cap fails this test.
    const many = svg('<g/>'.repeat(20_001));
    refusedSvg('x.svg', /not an accepted SVG: .*elements/, many);
  });

  test('deep nesting is refused before any tree walk (no recursion on attacker-shaped trees)', () => {
    const deep = svg(`${'<g>'.repeat(5000)}${'</g>'.repeat(5000)}`);
    refusedSvg('x.svg', /not an accepted SVG/, deep);
    // Within the limits, a deep tree is walked with an explicit stack.
    checkSvg('ok.svg', svg(`${'<g>'.repeat(60)}<rect/>${'</g>'.repeat(60)}`));
  });
});
