// Theme images: the type comes from the bytes and must match the extension; whole files only; size limits; hashed
// names derived from the content (server/branding/assets.ts).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { checkMedia, hashedName, MAX_IMAGE_BYTES } from '../../../server/branding/assets.ts';
import { ThemeError } from '../../../server/branding/theme.ts';
import { fixture } from './fixtures.ts';

function refused(fn: () => unknown, file: string, reason: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ThemeError, `expected ThemeError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.match(err.reason, reason);
    assert.equal(err.message, `${file}: ${err.reason}`);
    return true;
  });
}

describe('theme images', () => {
  const cases: [string, string, string][] = [
    ['images/logo.png', 'png', 'image/png'],
    ['images/logo.jpg', 'jpg', 'image/jpeg'],
    ['images/logo.gif', 'gif', 'image/gif'],
    ['images/logo.webp', 'webp', 'image/webp'],
    ['images/favicon.ico', 'ico', 'image/x-icon'],
    ['svg/clean.svg', 'svg', 'image/svg+xml'],
  ];
  for (const [rel, ext, type] of cases) {
    test(`a real ${type} is accepted, with a content-hashed name`, () => {
      const body = fixture(rel);
      const a = checkMedia(rel, ext, body);
      assert.equal(a.type, type);
      assert.equal(a.body, body);
      const sha = createHash('sha256').update(body).digest('hex');
      assert.equal(a.file, `${sha.slice(0, 16)}.${ext}`);
    });
  }

  test('.jpeg is accepted as JPEG and served as .jpg', () => {
    assert.match(
      checkMedia('x.jpeg', 'jpeg', fixture('images/logo.jpg')).file,
      /^[0-9a-f]{16}\.jpg$/,
    );
  });

  test('hashed names are stable and change with the content', () => {
    const png = fixture('images/logo.png');
    assert.equal(hashedName(png, 'png'), hashedName(Buffer.from(png), 'png'));
    assert.notEqual(hashedName(png, 'png'), hashedName(fixture('images/logo-de.png'), 'png'));
    assert.equal(checkMedia('a.png', 'png', png).file, checkMedia('b/c.png', 'png', png).file);
  });

  test('a PNG named .jpg is refused, naming the file and both types', () => {
    refused(
      () => checkMedia('logo/logo.jpg', 'jpg', fixture('images/logo.png')),
      'logo/logo.jpg',
      /content is image\/png but the extension "\.jpg" says image\/jpeg/,
    );
  });

  test('a GIF named .png is refused', () => {
    refused(
      () => checkMedia('logo/logo.png', 'png', fixture('images/logo.gif')),
      'logo/logo.png',
      /content is image\/gif but the extension "\.png" says image\/png/,
    );
  });

  test('HTML named .png is refused (unrecognised bytes)', () => {
    refused(
      () =>
        checkMedia('logo/logo.png', 'png', Buffer.from('<html><script>alert(1)</script></html>')),
      'logo/logo.png',
      /not image\/png/,
    );
  });

  test('a PNG named .svg is refused (not parsed as SVG at all)', () => {
    refused(
      () => checkMedia('logo/logo.svg', 'svg', fixture('images/logo.png')),
      'logo/logo.svg',
      /content is image\/png, not SVG/,
    );
  });

  test('an extension that is not an image is refused', () => {
    refused(
      () => checkMedia('logo/logo.html', 'html', Buffer.from('<p>')),
      'logo/logo.html',
      /not an accepted image type/,
    );
    // Fonts only where a stylesheet references them.
    const woff2 = Buffer.alloc(48);
    woff2.write('wOF2', 0, 'latin1');
    woff2.writeUInt32BE(48, 8);
    refused(
      () => checkMedia('logo/logo.woff2', 'woff2', woff2),
      'logo/logo.woff2',
      /not an accepted image type/,
    );
    assert.equal(checkMedia('f.woff2', 'woff2', woff2, { fonts: true }).type, 'font/woff2');
  });

  test('an image over 1 MiB is refused', () => {
    const png = fixture('images/logo.png');
    const big = Buffer.concat([png, Buffer.alloc(MAX_IMAGE_BYTES + 1 - png.length)]);
    refused(
      () => checkMedia('illustration/big.png', 'png', big),
      'illustration/big.png',
      /larger than the 1048576 bytes/,
    );
    // One byte less is not refused for its size (it is a PNG with trailing bytes after IEND).
    assert.equal(checkMedia('ok.png', 'png', big.subarray(0, MAX_IMAGE_BYTES)).type, 'image/png');
  });

  const truncations: [string, string, RegExp][] = [
    ['images/logo.png', 'png', /PNG is truncated/],
    ['images/logo.jpg', 'jpg', /JPEG is truncated/],
    ['images/logo.gif', 'gif', /GIF is truncated/],
    ['images/logo.webp', 'webp', /WebP is truncated/],
    ['images/favicon.ico', 'ico', /ICO is truncated/],
  ];
  for (const [rel, ext, reason] of truncations) {
    test(`a truncated ${ext} is refused`, () => {
      const body = fixture(rel);
      const cut = body.subarray(0, body.length - 5);
      refused(() => checkMedia(`logo/logo.${ext}`, ext, cut), `logo/logo.${ext}`, reason);
    });
  }

  test('a PNG cut inside a chunk is refused (the chunk walk, not only the last bytes)', () => {
    const body = fixture('images/logo.png');
    // Signature (8) + IHDR (25) + the IDAT chunk's length and type, and 5 of its data bytes.
    refused(
      () => checkMedia('logo/logo.png', 'png', body.subarray(0, 8 + 25 + 8 + 5)),
      'logo/logo.png',
      /PNG is truncated/,
    );
  });

  test('an empty file is refused', () => {
    refused(() => checkMedia('logo/logo.png', 'png', Buffer.alloc(0)), 'logo/logo.png', /empty/);
  });
});
