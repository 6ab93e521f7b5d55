/**
 * Theme stylesheets (css/style.css, css/style.rtl.css), checked and made servable. A stylesheet is served from
 * fedgate's origin and applies to the sign-in page, so it must not pull anything from elsewhere (the page's CSP
 * would block it, but then the theme silently breaks; better to say so at load) nor carry the old script vectors:
 *
 * - UTF-8 (a BOM is dropped), at most MAX_STYLESHEET_BYTES;
 * - no `@import` (CSS Cascade §6: a fetch the theme check cannot see), no `expression(` (IE's CSS script),
 *   `behavior`/`-moz-binding` (HTC and XBL), `image-set()` or `src()` (fetches that are not url());
 * - `url(…)` only to a `#fragment`, a `data:image/(png|jpeg|gif|webp)` URI, or a file in the theme folder, given
 *   relatively. Such a file is checked as an image (or font), and the reference is rewritten to the file's
 *   content-hashed name, so the stylesheet's own hash changes whenever a picture it uses does (cache busting).
 *
 * The stylesheet is read token by token as CSS Syntax §4 reads it (comments, strings, escapes, url tokens), not by
 * pattern, so `u\72l(`, `@\69mport` or a `url(` inside a comment are seen for what they are.
 */
import { MAX_STYLESHEET_BYTES } from './assets.ts';
import { ThemeError } from './errors.ts';

/** Turns a relative url() target into the hashed name it is served under; throws ThemeError when it cannot. */
export type ResolveRef = (ref: string) => string;

const DATA_IMAGE = /^data:image\/(png|jpeg|gif|webp)[;,]/i;
const FORBIDDEN_FUNCTIONS = new Set(['expression', 'image-set', '-webkit-image-set', 'src']);
const FORBIDDEN_PROPERTIES = new Set(['behavior', '-moz-binding']);

function isHex(c: string): boolean {
  return /^[0-9a-fA-F]$/.test(c);
}

function isNameChar(c: string | undefined): boolean {
  return c !== undefined && (/^[A-Za-z0-9_-]$/.test(c) || c.charCodeAt(0) >= 0x80);
}

/** CSS Syntax §4.3.7: one escape at s[i] === '\\'; returns the character and the index after it. */
function consumeEscape(s: string, i: number): [string, number] {
  let j = i + 1;
  let hex = '';
  while (j < s.length && hex.length < 6 && isHex(s[j] ?? '')) hex += s[j++] ?? '';
  if (hex !== '') {
    if (j < s.length && /\s/.test(s[j] ?? '')) j++;
    const cp = parseInt(hex, 16);
    return [
      cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)
        ? '\ufffd'
        : String.fromCodePoint(cp),
      j,
    ];
  }
  return [s[j] ?? '', j + 1];
}

/** A name (identifier) starting at i, escapes decoded; returns it and the index after it. */
function consumeName(s: string, i: number): [string, number] {
  let out = '';
  let j = i;
  while (j < s.length) {
    const c = s[j];
    if (c === '\\' && s[j + 1] !== '\n' && s[j + 1] !== undefined) {
      const [ch, next] = consumeEscape(s, j);
      out += ch;
      j = next;
    } else if (c !== undefined && isNameChar(c)) {
      out += c;
      j++;
    } else break;
  }
  return [out, j];
}

/** A quoted string starting at the quote s[i]; returns its decoded value and the index after the closing quote. */
function consumeString(file: string, s: string, i: number): [string, number] {
  const quote = s[i];
  let out = '';
  let j = i + 1;
  while (j < s.length) {
    const c = s[j];
    if (c === quote) return [out, j + 1];
    if (c === '\n') break;
    if (c === '\\') {
      if (s[j + 1] === '\n') {
        j += 2;
        continue;
      }
      const [ch, next] = consumeEscape(s, j);
      out += ch;
      j = next;
      continue;
    }
    out += c ?? '';
    j++;
  }
  throw new ThemeError(file, `unterminated string at offset ${i}`);
}

/** The problem with a url() target, or 'local' for a reference into the theme folder, or 'keep'. */
function classifyUrl(value: string): string {
  const v = value.trim();
  if (v === '') return 'url() is empty';
  if (v.startsWith('#')) return 'keep';
  if (/^data:/i.test(v))
    return DATA_IMAGE.test(v)
      ? 'keep'
      : 'only data:image/(png|jpeg|gif|webp) URIs are accepted in url()';
  if (/^[a-z][a-z0-9+.-]*:/i.test(v) || v.startsWith('//'))
    return `url(${v.slice(0, 80)}) points outside the theme: only files in the theme folder (relative paths) and data: images are accepted`;
  if (v.startsWith('/') || v.startsWith('\\'))
    return `url(${v.slice(0, 80)}) is an absolute path: give files in the theme folder relative to the stylesheet`;
  return 'local';
}

/**
 * Checks a stylesheet and returns it as served: local url() references rewritten to hashed names. `resolve` is
 * called once per local reference with the decoded target. Throws ThemeError naming `file`.
 */
export function checkCss(file: string, body: Buffer, resolve: ResolveRef): Buffer {
  if (body.length > MAX_STYLESHEET_BYTES)
    throw new ThemeError(
      file,
      `${body.length} bytes is larger than the ${MAX_STYLESHEET_BYTES} bytes (256 KiB) allowed for a stylesheet`,
    );
  let s: string;
  try {
    s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body);
  } catch {
    throw new ThemeError(file, 'a stylesheet must be UTF-8 text');
  }
  if (s.includes('\u0000')) throw new ThemeError(file, 'NUL characters in a stylesheet');
  // CSS Syntax §3.3: CR and CRLF are newlines; normalising them keeps offsets simple for the scanner.
  s = s.replace(/\r\n?|\f/g, '\n');
  const edits: { start: number; end: number; text: string }[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '/' && s[i + 1] === '*') {
      const end = s.indexOf('*/', i + 2);
      if (end < 0) throw new ThemeError(file, `unterminated comment at offset ${i}`);
      i = end + 2;
    } else if (c === '"' || c === "'") {
      i = consumeString(file, s, i)[1];
    } else if (c === '@') {
      const [name, next] = consumeName(s, i + 1);
      if (name.toLowerCase() === 'import')
        throw new ThemeError(file, '@import is not accepted: put every rule in this one file');
      i = Math.max(next, i + 1);
    } else if (isNameChar(c) || (c === '\\' && s[i + 1] !== '\n')) {
      const [name, next] = consumeName(s, i);
      const lower = name.toLowerCase();
      if (s[next] === '(' && lower === 'url') {
        const parsed = consumeUrl(file, s, next + 1);
        const verdict = classifyUrl(parsed.value);
        if (verdict === 'local') {
          edits.push({ start: i, end: parsed.end, text: `url("${resolve(parsed.value.trim())}")` });
        } else if (verdict !== 'keep') {
          throw new ThemeError(file, verdict);
        }
        i = parsed.end;
        continue;
      }
      if (s[next] === '(' && FORBIDDEN_FUNCTIONS.has(lower))
        throw new ThemeError(file, `${name}() is not accepted in a theme stylesheet`);
      if (FORBIDDEN_PROPERTIES.has(lower) && /^\s*:/.test(s.slice(next, next + 20)))
        throw new ThemeError(file, `the ${name} property is not accepted (it loads code)`);
      i = Math.max(next, i + 1);
    } else {
      i++;
    }
  }
  let out = '';
  let at = 0;
  for (const e of edits) {
    out += s.slice(at, e.start) + e.text;
    at = e.end;
  }
  out += s.slice(at);
  return Buffer.from(out, 'utf8');
}

/** The rest of a url( token from i (just after the parenthesis): its decoded value and the index after `)`. */
function consumeUrl(file: string, s: string, i: number): { value: string; end: number } {
  let j = i;
  while (/\s/.test(s[j] ?? '')) j++;
  if (s[j] === '"' || s[j] === "'") {
    const [value, next] = consumeString(file, s, j);
    j = next;
    while (/\s/.test(s[j] ?? '')) j++;
    if (s[j] !== ')') throw new ThemeError(file, `url() not closed at offset ${i}`);
    return { value, end: j + 1 };
  }
  let value = '';
  while (j < s.length) {
    const c = s[j] ?? '';
    if (c === ')') return { value, end: j + 1 };
    if (/\s/.test(c)) {
      while (/\s/.test(s[j] ?? '')) j++;
      if (s[j] === ')') return { value, end: j + 1 };
      break;
    }
    if (c === '"' || c === "'" || c === '(') break;
    if (c === '\\') {
      const [ch, next] = consumeEscape(s, j);
      value += ch;
      j = next;
      continue;
    }
    value += c;
    j++;
  }
  throw new ThemeError(file, `malformed url() at offset ${i}`);
}
