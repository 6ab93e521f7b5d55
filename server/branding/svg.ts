/**
 * SVG logos and illustrations, checked before they are served (issue 17: "no SVG scripts"). An SVG shown with <img>
 * runs no script, but the same URL opened directly is an XML document on fedgate's origin: a script, an event
 * attribute, a javascript: link or embedded HTML in it would run with the sign-in page's cookies (stored XSS). So a
 * theme SVG may hold drawing only:
 *
 * - it parses as XML (server/lib/xml-parse.ts: no DOCTYPE or entity declarations, bounded size, depth and element
 *   count, checked in a linear pass before any tree is built) with an `svg` root in the SVG namespace;
 * - no `script`, `foreignObject` (a door to HTML), `handler`/`listener` (SVG Tiny events), nor any element in the
 *   XHTML namespace;
 * - no `on*` attribute; no `href`/`xlink:href` but a local `#fragment` or a `data:image/(png|jpeg|gif|webp)` URI;
 *   no animation whose target attribute is an `href` or an event (the `<set attributeName="href" to="javascript:…">`
 *   bypass); no `javascript:`/`vbscript:` anywhere in a value;
 * - no processing instruction (`<?xml-stylesheet href=…?>` loads a stylesheet from anywhere);
 * - styles (`<style>` and `style=`/presentation attributes) with no `@import`, no `url(` but local fragments and
 *   data images, no `expression(`, no CSS escapes (they could spell either of those).
 *
 * The tree is walked with an explicit stack, never by recursion, so no attacker-shaped nesting reaches the call
 * stack. Served SVGs also carry their own CSP (SVG_HEADERS), should a check ever miss something.
 */
import { parseXmlStrict, XmlRejected } from '../lib/xml-parse.ts';
import { ThemeError } from './errors.ts';

const SVG_NS = 'http://www.w3.org/2000/svg';
const XHTML_NS = 'http://www.w3.org/1999/xhtml';

/** Headers for every served SVG: nothing may load or run but the SVG's own inline styles. */
export const SVG_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
});

/**
 * Shape limits for a theme SVG. A logo from a design tool is tens to a few hundred elements; an elaborate
 * illustration a few thousand. The element cap bounds the walk below whatever 1 MiB could hold.
 */
export const SVG_LIMITS = {
  maxElements: 20_000,
  maxDepth: 64,
  maxAttributes: 64,
  maxTotalAttributes: 100_000,
} as const;

const FORBIDDEN_ELEMENTS = new Set(['script', 'foreignobject', 'handler', 'listener']);
const ANIMATIONS = new Set(['animate', 'set', 'animatemotion', 'animatetransform', 'animatecolor']);
/** The only `href` values allowed: a reference inside the same document, or an inline raster image. */
const SAFE_HREF = /^(#[^\s]*|data:image\/(png|jpeg|gif|webp)(;base64)?,[\s\S]*)$/i;
// eslint-disable-next-line no-control-regex -- browsers ignore controls and whitespace inside a scheme
const IGNORED_IN_SCHEME = /[\u0000-\u0020]/g;

/** Refuses style text that could load something from elsewhere or run script (used for SVG only). */
export function checkSvgStyle(file: string, text: string, where: string): void {
  if (text.includes('\\'))
    throw new ThemeError(file, `${where}: CSS escapes (\\) are not accepted in an SVG`);
  const plain = text.replace(/\/\*[\s\S]*?\*\//g, '').toLowerCase();
  if (plain.includes('@import')) throw new ThemeError(file, `${where}: @import is not accepted`);
  for (const bad of ['expression(', 'javascript:', 'vbscript:', '-moz-binding', 'behavior:'])
    if (plain.replace(IGNORED_IN_SCHEME, '').includes(bad))
      throw new ThemeError(file, `${where}: "${bad}" is not accepted`);
  if (plain.includes('image-set('))
    throw new ThemeError(file, `${where}: image-set() is not accepted`);
  const re = /url\(\s*(["']?)([^"')]*)\1\s*\)/g;
  let count = 0;
  for (const m of plain.matchAll(re)) {
    count++;
    const target = (m[2] ?? '').trim();
    if (!SAFE_HREF.test(target))
      throw new ThemeError(
        file,
        `${where}: url(${target.slice(0, 80)}) points outside the SVG (only #fragments and data: images)`,
      );
  }
  // A url( the pattern did not read (odd quoting) is refused rather than guessed at.
  if ((plain.match(/url\(/g) ?? []).length !== count)
    throw new ThemeError(file, `${where}: a url() that cannot be read`);
}

function attributeProblem(el: Element, a: Attr): string | undefined {
  const local = a.localName.toLowerCase();
  const value = a.value;
  if (local.startsWith('on')) return `event attribute ${a.name} on <${el.tagName}>`;
  if (local === 'href' && !SAFE_HREF.test(value.trim()))
    return `${a.name}="${value.slice(0, 80)}" on <${el.tagName}> points outside the SVG (only #fragments and data: images)`;
  const squeezed = value.replace(IGNORED_IN_SCHEME, '').toLowerCase();
  if (squeezed.includes('javascript:') || squeezed.includes('vbscript:'))
    return `script URL in ${a.name} on <${el.tagName}>`;
  if (ANIMATIONS.has(el.localName.toLowerCase()) && local === 'attributename') {
    const target = (value.split(':').pop() ?? '').trim().toLowerCase();
    if (target === 'href' || target.startsWith('on'))
      return `<${el.tagName}> animates ${value} (could turn a link into a script)`;
  }
  return undefined;
}

/** Throws ThemeError naming `file` and the first problem found; returns when the SVG holds drawing only. */
export function checkSvg(file: string, body: Buffer): void {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new ThemeError(file, 'an SVG must be UTF-8 text');
  }
  let doc: Document;
  try {
    doc = parseXmlStrict(text, { maxLength: body.length + 1, ...SVG_LIMITS });
  } catch (err) {
    if (err instanceof XmlRejected)
      throw new ThemeError(file, `not an accepted SVG: ${err.message}`);
    throw new ThemeError(file, 'not an accepted SVG: it does not parse as XML');
  }
  const root = doc.documentElement;
  if (root.localName !== 'svg' || root.namespaceURI !== SVG_NS)
    throw new ThemeError(file, `the root element must be <svg> in the namespace ${SVG_NS}`);
  // The element count is capped by parseXmlStrict's linear pass above (SVG_LIMITS), before any tree exists.
  const stack: Node[] = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.nodeType === 7)
      throw new ThemeError(file, 'processing instructions are not accepted in an SVG');
    if (node.nodeType !== 1) continue;
    const el = node as Element;
    const local = el.localName.toLowerCase();
    if (FORBIDDEN_ELEMENTS.has(local))
      throw new ThemeError(file, `<${el.tagName}> is not accepted in an SVG`);
    if (el.namespaceURI === XHTML_NS)
      throw new ThemeError(file, `HTML element <${el.tagName}> is not accepted in an SVG`);
    for (let i = 0; i < el.attributes.length; i++) {
      const a = el.attributes.item(i);
      if (a === null) continue;
      const problem = attributeProblem(el, a);
      if (problem !== undefined) throw new ThemeError(file, problem);
      if (a.value.toLowerCase().includes('url(') || a.localName.toLowerCase() === 'style')
        checkSvgStyle(file, a.value, `${a.name} on <${el.tagName}>`);
    }
    if (local === 'style') checkSvgStyle(file, el.textContent, '<style>');
    for (let c = el.lastChild; c !== null; c = c.previousSibling) stack.push(c);
  }
}
