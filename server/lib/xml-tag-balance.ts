/**
 * A well-formedness check xmldom 0.8 does not make, shared by every parser of outside XML (SOAP bodies in
 * protocols/wstrust/soap.ts, SAML messages and partner metadata in lib/xml-parse.ts). Written here rather than
 * taken from a library because it has to run on the exact text xmldom will parse, before it does; the tests in
 * tests/security/wstrust-negative.test.ts (B1.8) and tests/unit/lib/xml-parse-balance.test.ts compare it with
 * what xmlsec1/libxml2 refuses.
 */

/** Limits on the real tag structure; a limit passed is reported through `bad`. */
export interface XmlShapeLimits {
  maxDepth?: number;
  maxElements?: number;
  /** Attributes (namespace declarations included) on any one element. */
  maxAttributes?: number;
  /**
   * Attributes in the whole document. Parsing and canonicalization cost grows with attributes more than with
   * bytes (xmldom checks each new attribute against the element's others; exclusive c14n sorts and renders
   * them), so a document at the size limit made of attributes is the most expensive one (bench/parse-cost.ts).
   */
  maxTotalAttributes?: number;
}

/** What the pass measured: deepest nesting, number of elements, most attributes on one element, all attributes. */
export interface XmlShape {
  depth: number;
  elements: number;
  attributes: number;
  totalAttributes: number;
}

/**
 * Every end tag closes the element it should (XML 1.0 §3 WFC: Element Type Match), checked on the text before
 * xmldom sees it. xmldom 0.8 silently ignores an end tag whose name does not match the open element (it
 * reports nothing unless the names differ only in case) and closes what is left open at the end of the
 * document, so `<wsse:UsernameToken>…</wsse:UsernameTokenX>` would otherwise parse, with everything after it
 * moved inside the token: a document other parsers reject, read with a structure nobody wrote (B1.8, A20).
 * One linear pass: every '<' starts markup in well-formed XML (text and attribute values cannot hold a raw
 * '<', and a raw '<' in an attribute value is refused here); quoted attribute values are skipped whole, so a
 * '>' or '/' inside them does not end the tag.
 * Callers refuse markup declarations (DOCTYPE, ENTITY) before this runs; processing instructions (the XML
 * declaration among them) are skipped whole.
 *
 * The same pass measures the real tag structure (depth, element count, attributes per element) and stops as
 * soon as a limit is passed, before any tree is built (corpus A16, B1.7). It is the only depth bound fedgate
 * trusts: a regex over the text cannot tell a `/>` in character data from the end of an empty-element tag,
 * which let 25,000 levels of real nesting through the old guard (issue 14).
 */
export function checkXmlTagBalance(
  text: string,
  bad: (why: string) => never,
  limits: XmlShapeLimits = {},
): XmlShape {
  const maxDepth = limits.maxDepth ?? Number.POSITIVE_INFINITY;
  const maxElements = limits.maxElements ?? Number.POSITIVE_INFINITY;
  const maxAttributes = limits.maxAttributes ?? Number.POSITIVE_INFINITY;
  const maxTotalAttributes = limits.maxTotalAttributes ?? Number.POSITIVE_INFINITY;
  const shape: XmlShape = { depth: 0, elements: 0, attributes: 0, totalAttributes: 0 };
  const open: string[] = [];
  const nameEnd = (from: number): number => {
    let j = from;
    while (j < text.length && !/[\s/>]/.test(text.charAt(j))) j++;
    return j;
  };
  let i = text.indexOf('<');
  while (i !== -1) {
    if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i + 2);
      if (end === -1) bad('unterminated processing instruction');
      i = end + 2;
    } else if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end === -1) bad('unterminated comment');
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i + 9);
      if (end === -1) bad('unterminated CDATA section');
      i = end + 3;
    } else if (text.startsWith('</', i)) {
      const j = nameEnd(i + 2);
      const name = text.slice(i + 2, j);
      let k = j;
      while (k < text.length && /\s/.test(text.charAt(k))) k++;
      if (text.charAt(k) !== '>') bad('malformed end tag');
      const expected = open.pop();
      if (expected !== name)
        bad(`end tag ${name.slice(0, 60)} does not match ${(expected ?? 'nothing').slice(0, 60)}`);
      i = k + 1;
    } else {
      const j = nameEnd(i + 1);
      if (j === i + 1) bad('malformed start tag');
      const name = text.slice(i + 1, j);
      if (++shape.elements > maxElements) bad(`more than ${maxElements} elements`);
      let k = j;
      let selfClosing = false;
      let attributes = 0;
      for (;;) {
        if (k >= text.length) bad('unterminated start tag');
        const c = text.charAt(k);
        if (c === '"' || c === "'") {
          const close = text.indexOf(c, k + 1);
          if (close === -1) bad('unterminated attribute value');
          // XML 1.0 §3.1 WFC: No < in Attribute Values (xmldom 0.8 lets it through).
          if (text.slice(k + 1, close).includes('<')) bad("'<' in an attribute value");
          // Every attribute has exactly one quoted value, so quoted values count attributes.
          if (++attributes > maxAttributes)
            bad(`more than ${maxAttributes} attributes on one element`);
          if (++shape.totalAttributes > maxTotalAttributes)
            bad(`more than ${maxTotalAttributes} attributes in the document`);
          k = close + 1;
          selfClosing = false;
        } else if (c === '>') {
          break;
        } else {
          if (c === '<') bad('malformed start tag');
          if (!/\s/.test(c)) selfClosing = c === '/';
          k++;
        }
      }
      if (attributes > shape.attributes) shape.attributes = attributes;
      const depth = open.length + 1;
      if (depth > maxDepth) bad(`nested deeper than ${maxDepth} elements`);
      if (depth > shape.depth) shape.depth = depth;
      if (!selfClosing) open.push(name);
      i = k + 1;
    }
    i = text.indexOf('<', i);
  }
  if (open.length > 0) bad(`element ${(open[open.length - 1] ?? '').slice(0, 60)} is not closed`);
  return shape;
}
