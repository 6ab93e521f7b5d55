/**
 * Strict parsing for XML that arrives from outside (SAML requests, partner metadata): corpus A11, A16, A20,
 * B1.3, B1.8. Any DOCTYPE or entity declaration is refused before the parser runs (no entity expansion, no
 * external fetch, no parser differential); every xmldom error or warning is fatal; exactly one root element;
 * nothing but comments/whitespace around it. Line ends follow XML 1.0 (§2.11) rather than xmldom's XML 1.1
 * default, so text reads back byte-exact.
 */
import { DOMParser } from '@xmldom/xmldom';
import { checkXmlTagBalance } from './xml-tag-balance.ts';

export class XmlRejected extends Error {
  override readonly name = 'XmlRejected';
}

export interface StrictParseOptions {
  /** Refuse input longer than this many characters (default 256 KiB). */
  maxLength?: number;
  /** Refuse documents nested deeper than this many elements (default 64). */
  maxDepth?: number;
  /** Refuse documents with more elements than this (default 10,000). */
  maxElements?: number;
  /** Refuse an element with more attributes (namespace declarations included) than this (default 64). */
  maxAttributes?: number;
  /** Refuse a document with more attributes in all than this (default 20,000). */
  maxTotalAttributes?: number;
}

export function parseXmlStrict(xml: string, opts: StrictParseOptions = {}): Document {
  const maxLength = opts.maxLength ?? 256 * 1024;
  if (xml.length > maxLength) throw new XmlRejected('XML document too large');
  if (/<!DOCTYPE|<!ENTITY|<!ATTLIST|<!ELEMENT/i.test(xml))
    throw new XmlRejected('XML with a DOCTYPE or entity declaration is refused');
  // eslint-disable-next-line no-control-regex -- NUL is refused, so the regex names it
  if (/\u0000/.test(xml)) throw new XmlRejected('XML contains NUL characters');
  if (xml.charCodeAt(0) === 0xfeff) xml = xml.slice(1);
  // Depth, element and attribute counts come from the real tag structure, measured in the same linear pass
  // that checks tag balance, before any tree is built (corpus A16, B1.7). xmldom 0.8 also refuses a mismatched
  // end tag only loosely and re-nests the document (B1.8): that pass refuses it first.
  // Every later walk over the tree (ID counting, signature checks, xml-crypto's canonicalization, which
  // recurses) therefore sees at most maxDepth levels.
  checkXmlTagBalance(
    xml,
    (why) => {
      throw new XmlRejected(`XML is not well-formed or too large: ${why}`);
    },
    {
      maxDepth: opts.maxDepth ?? 64,
      maxElements: opts.maxElements ?? 10_000,
      maxAttributes: opts.maxAttributes ?? 64,
      maxTotalAttributes: opts.maxTotalAttributes ?? 20_000,
    },
  );
  const options = {
    normalizeLineEndings: (source: string) => source.replace(/\r\n?/g, '\n'),
    errorHandler: (level: string, msg: unknown) => {
      const text = String(msg);
      if (level === 'warning' && text.startsWith('Unicode replacement character')) return;
      throw new XmlRejected(`XML ${level}: ${text.slice(0, 200)}`);
    },
  };
  let doc: Document;
  try {
    doc = new DOMParser(options).parseFromString(xml, 'text/xml');
  } catch (e) {
    if (e instanceof XmlRejected) throw e;
    throw new XmlRejected(`XML does not parse: ${String(e).slice(0, 200)}`);
  }
  const roots = Array.from(doc.childNodes).filter((n) => n.nodeType === 1);
  for (const n of Array.from(doc.childNodes)) {
    // Only the root, comments and whitespace text may appear at the top level (no PI before the root, B1.8).
    if (n.nodeType === 7 && (n as ProcessingInstruction).target.toLowerCase() !== 'xml')
      throw new XmlRejected('processing instruction outside the root element');
  }
  if (roots.length !== 1 || (doc.documentElement as Element | null) === null)
    throw new XmlRejected('XML must have exactly one root element');
  return doc;
}

/** Element children, optionally filtered by namespace URI and local name (never by prefix, corpus B2.17). */
export function childElements(el: Element, ns?: string, localName?: string): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n !== null; n = n.nextSibling) {
    if (n.nodeType !== 1) continue;
    const e = n as Element;
    if (ns !== undefined && e.namespaceURI !== ns) continue;
    if (localName !== undefined && e.localName !== localName) continue;
    out.push(e);
  }
  return out;
}

/** At most one such child; more than one is refused (duplicate Issuer, NameID, … are wrapping tricks). */
export function optionalChild(el: Element, ns: string, localName: string): Element | undefined {
  const found = childElements(el, ns, localName);
  if (found.length > 1) throw new XmlRejected(`more than one ${localName} in ${el.localName}`);
  return found[0];
}

/**
 * The text of an element that must hold only text: comments, processing instructions or child elements
 * inside are refused (the comment-truncation family, corpus B2.15), so the value read is all of it.
 */
export function textOnly(el: Element): string {
  let out = '';
  for (let n = el.firstChild; n !== null; n = n.nextSibling) {
    if (n.nodeType === 3 || n.nodeType === 4) out += (n as CharacterData).data;
    else throw new XmlRejected(`${el.localName} must contain text only`);
  }
  return out;
}

/** An attribute's value, or undefined when absent (xmldom 0.8's getAttribute returns '' for a missing one). */
export function attr(el: Element, name: string): string | undefined {
  return el.hasAttribute(name) ? (el.getAttribute(name) ?? '') : undefined;
}
