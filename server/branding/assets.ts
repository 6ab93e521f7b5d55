/**
 * Theme files as served: the type decided from the bytes, size limits, and content-hashed public names (issue 17:
 * "Theme assets are served with long cache lifetimes and content-hashed names. Uploaded images are checked: type,
 * size, no SVG scripts").
 *
 * The type of an image is never taken from its name alone: the magic number must say the same thing as the
 * extension, so a renamed HTML or SVG file cannot be served as a PNG, and a truncated file (an interrupted copy) is
 * refused by the same look at the bytes. SVG is the one text format and has its own checker (svg.ts).
 */
import { createHash } from 'node:crypto';
import { ThemeError } from './errors.ts';
import { checkSvg, SVG_HEADERS } from './svg.ts';

/** Largest stylesheet (css/style.css, css/style.rtl.css): AD FS's own default theme's is about 40 KiB. */
export const MAX_STYLESHEET_BYTES = 256 * 1024;
/** Largest image or font: a sign-in page's logo is a few KiB, an illustration a few hundred. */
export const MAX_IMAGE_BYTES = 1024 * 1024;

export interface ThemeAsset {
  /** Public name: the first 16 hex digits of the SHA-256 of the served bytes, then the extension. */
  file: string;
  /** Content-Type to send. */
  type: string;
  body: Buffer;
  /**
   * Extra response headers this asset needs. SVG gets a CSP of its own: opened directly (not as an <img>), an SVG is
   * a document that could run script, so even a checked one is served with nothing allowed but its inline styles.
   */
  headers?: Readonly<Record<string, string>> | undefined;
}

/** What a file is, decided from its bytes. */
export type MediaKind = 'png' | 'jpeg' | 'gif' | 'webp' | 'ico' | 'svg' | 'woff' | 'woff2';

interface KindInfo {
  type: string;
  /** The extension of the hashed name. */
  ext: string;
  /** Extensions a file of this kind may have on disk. */
  names: readonly string[];
  image: boolean;
}

export const MEDIA: Readonly<Record<MediaKind, KindInfo>> = {
  png: { type: 'image/png', ext: 'png', names: ['png'], image: true },
  jpeg: { type: 'image/jpeg', ext: 'jpg', names: ['jpg', 'jpeg'], image: true },
  gif: { type: 'image/gif', ext: 'gif', names: ['gif'], image: true },
  webp: { type: 'image/webp', ext: 'webp', names: ['webp'], image: true },
  ico: { type: 'image/x-icon', ext: 'ico', names: ['ico'], image: true },
  svg: { type: 'image/svg+xml', ext: 'svg', names: ['svg'], image: true },
  // Fonts only as url() targets of a stylesheet (@font-face): a theme may bring its typeface.
  woff: { type: 'font/woff', ext: 'woff', names: ['woff'], image: false },
  woff2: { type: 'font/woff2', ext: 'woff2', names: ['woff2'], image: false },
};

/** The kind an extension claims (lower-case, without the dot), or undefined for one we do not serve. */
export function kindOfExtension(ext: string): MediaKind | undefined {
  const e = ext.toLowerCase();
  for (const [k, v] of Object.entries(MEDIA) as [MediaKind, KindInfo][])
    if (v.names.includes(e)) return k;
  return undefined;
}

/** `<first 16 hex of sha-256(body)>.<ext>`: the same bytes always get the same name, other bytes another. */
export function hashedName(body: Buffer, ext: string): string {
  return `${createHash('sha256').update(body).digest('hex').slice(0, 16)}.${ext}`;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The binary kind the bytes are, or a reason they are not a complete file of the kind they start as. Each format is
 * walked just far enough to see that it is whole: PNG chunk by chunk to IEND (PNG §5.3, §11.2.5), JPEG from SOI to
 * EOI (ITU T.81 §B.1.1.2), GIF to its trailer (GIF89a §27), WebP's RIFF length (RFC 9649 §2.5), ICO's directory
 * within the file. SVG is text and has no magic number: it is recognised by its extension and parsed (svg.ts).
 */
export function sniff(
  b: Buffer,
): { kind: Exclude<MediaKind, 'svg'>; truncated?: string | undefined } | undefined {
  if (b.length >= 8 && b.subarray(0, 8).equals(PNG_SIGNATURE)) {
    let at = 8;
    let first = true;
    // One iteration per chunk; every chunk advances at least 12 bytes, so the loop ends.
    while (at + 12 <= b.length) {
      const len = b.readUInt32BE(at);
      const type = b.toString('latin1', at + 4, at + 8);
      if (first && type !== 'IHDR')
        return { kind: 'png', truncated: 'PNG does not start with IHDR' };
      first = false;
      const next = at + 12 + len;
      if (next > b.length) break;
      if (type === 'IEND') return { kind: 'png' };
      at = next;
    }
    return { kind: 'png', truncated: 'PNG is truncated (no IEND chunk)' };
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    // Some encoders pad after EOI; allow a few trailing NULs but nothing else.
    let end = b.length;
    while (end > 0 && b[end - 1] === 0 && b.length - end < 16) end--;
    if (end >= 4 && b[end - 2] === 0xff && b[end - 1] === 0xd9) return { kind: 'jpeg' };
    return { kind: 'jpeg', truncated: 'JPEG is truncated (no end-of-image marker)' };
  }
  const head6 = b.toString('latin1', 0, 6);
  if (head6 === 'GIF87a' || head6 === 'GIF89a') {
    if (b.length >= 14 && b[b.length - 1] === 0x3b) return { kind: 'gif' };
    return { kind: 'gif', truncated: 'GIF is truncated (no trailer)' };
  }
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF') {
    if (b.toString('latin1', 8, 12) !== 'WEBP') return undefined;
    const size = b.readUInt32LE(4);
    if (size + 8 <= b.length && size >= 4) return { kind: 'webp' };
    return { kind: 'webp', truncated: 'WebP is truncated (shorter than its RIFF length)' };
  }
  if (b.length >= 6 && b.readUInt32LE(0) === 0x00010000) {
    const count = b.readUInt16LE(4);
    if (count === 0) return { kind: 'ico', truncated: 'ICO holds no image' };
    if (6 + 16 * count > b.length)
      return { kind: 'ico', truncated: 'ICO is truncated (directory)' };
    for (let i = 0; i < count; i++) {
      const size = b.readUInt32LE(6 + 16 * i + 8);
      const offset = b.readUInt32LE(6 + 16 * i + 12);
      if (size === 0 || offset + size > b.length)
        return { kind: 'ico', truncated: `ICO is truncated (image ${i + 1} ends past the file)` };
    }
    return { kind: 'ico' };
  }
  const head4 = b.toString('latin1', 0, 4);
  if (head4 === 'wOFF' || head4 === 'wOF2') {
    // WOFF §3 / WOFF2 §3: the header's length field is the whole file.
    if (b.length >= 12 && b.readUInt32BE(8) === b.length)
      return { kind: head4 === 'wOFF' ? 'woff' : 'woff2' };
    return {
      kind: head4 === 'wOFF' ? 'woff' : 'woff2',
      truncated: 'the font file length does not match its header',
    };
  }
  return undefined;
}

/**
 * Checks one image (or, with `fonts`, a font) whose bytes are read: its kind from the bytes must be the kind its
 * extension names, it must be whole, and SVG must pass svg.ts. `file` is the name used in every refusal.
 */
export function checkMedia(
  file: string,
  ext: string,
  body: Buffer,
  opts: { fonts?: boolean } = {},
): ThemeAsset {
  const claimed = kindOfExtension(ext);
  if (claimed === undefined || (!MEDIA[claimed].image && opts.fonts !== true))
    throw new ThemeError(
      file,
      `".${ext}" is not an accepted ${opts.fonts === true ? 'image or font' : 'image'} type (PNG, JPEG, GIF, WebP, ICO, SVG${opts.fonts === true ? ', WOFF, WOFF2' : ''})`,
    );
  if (body.length > MAX_IMAGE_BYTES)
    throw new ThemeError(
      file,
      `${body.length} bytes is larger than the ${MAX_IMAGE_BYTES} bytes (1 MiB) allowed for an image`,
    );
  if (body.length === 0) throw new ThemeError(file, 'the file is empty');
  const info = MEDIA[claimed];
  if (claimed === 'svg') {
    const seen = sniff(body);
    if (seen !== undefined)
      throw new ThemeError(file, `the content is ${MEDIA[seen.kind].type}, not SVG`);
    checkSvg(file, body);
    return { file: hashedName(body, info.ext), type: info.type, body, headers: SVG_HEADERS };
  }
  const seen = sniff(body);
  if (seen === undefined)
    throw new ThemeError(file, `the content is not ${info.type} (unrecognised bytes)`);
  if (seen.kind !== claimed)
    throw new ThemeError(
      file,
      `the content is ${MEDIA[seen.kind].type} but the extension ".${ext}" says ${info.type}`,
    );
  if (seen.truncated !== undefined) throw new ThemeError(file, seen.truncated);
  return { file: hashedName(body, info.ext), type: info.type, body };
}
