/**
 * SOAP for the WS-Trust endpoints: the content type, and a strict XML reader (every rule here runs before any
 * credential is looked at). Faults are written at the edge (fault.ts).
 *
 * Reader rules (security-corpus B1, B4.2): UTF-8 only; no NUL; no DOCTYPE or any other markup declaration
 * (SOAP 1.2 Part 1 §5 forbids a DTD in a SOAP message, so nothing legitimate is lost); no processing
 * instruction other than a leading XML declaration; exactly one root element and nothing but whitespace
 * around it (no comments, no trailing garbage); every xmldom warning or error fatal; every prefix bound;
 * bounded depth, element count and attributes per element (the body size is bounded before this runs).
 */
import { SOAP_LIMITS } from '../../lib/xml-limits.ts';
import { checkXmlTagBalance } from '../../lib/xml-tag-balance.ts';
import { DOMParser } from '@xmldom/xmldom';
import { SOAP11_NS, SOAP12_NS, type SoapVersion } from './constants.ts';
import { wstrustFault } from './fault.ts';

export const MAX_DEPTH = SOAP_LIMITS.maxDepth ?? 24;
export const MAX_ELEMENTS = SOAP_LIMITS.maxElements ?? 1000;
export const MAX_ATTRIBUTES = SOAP_LIMITS.maxAttributes ?? 32;

/**
 * Which SOAP version a request's content type names, and its action (SOAP 1.2's `action` parameter, else the
 * SOAPAction header); undefined when it is neither SOAP 1.2 (application/soap+xml) nor SOAP 1.1 (text/xml), or
 * names a charset other than UTF-8.
 */
export function soapVersionOf(
  contentType: string | undefined,
  soapActionHeader: string | undefined,
): { soap: SoapVersion; action: string | undefined } | undefined {
  const [mediaRaw = '', ...params] = (contentType ?? '').split(';');
  const media = mediaRaw.trim().toLowerCase();
  const p = new Map<string, string>();
  for (const kv of params) {
    const i = kv.indexOf('=');
    if (i > 0)
      p.set(
        kv.slice(0, i).trim().toLowerCase(),
        kv
          .slice(i + 1)
          .trim()
          .replace(/^"(.*)"$/, '$1'),
      );
  }
  const charset = p.get('charset');
  if (charset !== undefined && charset.toLowerCase() !== 'utf-8') return undefined;
  const soapAction = soapActionHeader?.trim().replace(/^"(.*)"$/, '$1');
  if (media === 'application/soap+xml')
    return { soap: '1.2', action: p.get('action') ?? soapAction };
  if (media === 'text/xml') return { soap: '1.1', action: soapAction };
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Strict reading

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_NODE = 4;
const PI_NODE = 7;

function bad(detail: string): never {
  throw wstrustFault('invalid_request', detail);
}

/** Decodes the body: UTF-8 only (fatal on malformed bytes, so UTF-16 and BOM tricks fail), no NUL. */
export function decodeBody(buf: Buffer): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buf);
  } catch {
    bad('body is not valid UTF-8');
  }
  if (text.includes('\u0000')) bad('body contains NUL');
  return text;
}

/** Parses one SOAP message document by the rules in the header comment. */
export function parseXmlStrict(text: string): Document {
  if (text.trim() === '') bad('empty body');
  // Markup declarations (<!DOCTYPE, <!ENTITY, <!ELEMENT, <!ATTLIST, <!NOTATION): B1.1–B1.3.
  if (/<!(?!--|\[CDATA\[)/.test(text)) bad('markup declaration (DOCTYPE/ENTITY) in message');
  const decl = /^\s*<\?xml\s[^?]*\?>/.exec(text);
  if (decl !== null && /encoding\s*=\s*["'](?!utf-8["'])/i.test(decl[0]))
    bad('XML declaration names an encoding other than UTF-8');
  const rest = decl === null ? text : text.slice(decl[0].length);
  if (rest.includes('<?')) bad('processing instruction in message');
  checkTagBalance(rest);

  // Reports are collected, not thrown from the handler: xmldom catches some exceptions it raises itself.
  const reports: string[] = [];
  let doc: Document;
  try {
    doc = new DOMParser({
      errorHandler: (level: string, msg: unknown) => {
        // A few are enough for the log (a 64 KiB body can raise thousands, e.g. repeated attributes).
        if (reports.length < 5) reports.push(`${level}: ${String(msg).slice(0, 200)}`);
        else if (reports.length === 5) reports.push('…');
      },
    }).parseFromString(text, 'text/xml');
  } catch (err) {
    bad(`XML parse failed: ${String(err).slice(0, 200)}`);
  }
  if (reports.length > 0) bad(`XML ${reports.join('; ')}`);

  let roots = 0;
  for (let n = doc.firstChild; n !== null; n = n.nextSibling) {
    if (n.nodeType === ELEMENT_NODE) roots++;
    else if (n.nodeType === TEXT_NODE && (n.nodeValue ?? '').trim() === '') continue;
    else if (n.nodeType === PI_NODE && n.nodeName === 'xml' && n === doc.firstChild) continue;
    else bad(`unexpected node (type ${n.nodeType}) outside the root element`);
  }
  if (roots !== 1) bad(`expected one root element, found ${roots}`);
  checkShape(doc.documentElement);
  return doc;
}

/**
 * Every end tag closes the element it should (server/lib/xml-tag-balance.ts), and the real tag structure is
 * within SOAP_LIMITS, before xmldom builds a tree; a SOAP fault otherwise.
 */
export function checkTagBalance(text: string): void {
  checkXmlTagBalance(text, bad, SOAP_LIMITS);
}

/** Iterative walk (no recursion, so depth cannot exhaust the stack): depth, counts, bound prefixes. */
function checkShape(root: Element): void {
  let elements = 0;
  const stack: { el: Element; depth: number }[] = [{ el: root, depth: 1 }];
  while (stack.length > 0) {
    const top = stack.pop();
    if (top === undefined) break;
    const { el, depth } = top;
    if (depth > MAX_DEPTH) bad(`nesting deeper than ${MAX_DEPTH}`);
    if (++elements > MAX_ELEMENTS) bad(`more than ${MAX_ELEMENTS} elements`);
    if ((el.prefix ?? '') !== '' && (el.namespaceURI ?? null) === null)
      bad(`unbound prefix ${el.prefix}`);
    if (el.attributes.length > MAX_ATTRIBUTES) bad(`more than ${MAX_ATTRIBUTES} attributes`);
    for (let i = 0; i < el.attributes.length; i++) {
      const a = el.attributes.item(i);
      if (a === null) continue;
      const prefix = a.prefix ?? '';
      if (prefix !== '' && prefix !== 'xmlns' && (a.namespaceURI ?? null) === null)
        bad(`unbound attribute prefix ${a.prefix}`);
    }
    for (let n = el.firstChild; n !== null; n = n.nextSibling) {
      if (n.nodeType === ELEMENT_NODE) stack.push({ el: n as Element, depth: depth + 1 });
    }
  }
}

export function childElements(el: Element): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n !== null; n = n.nextSibling)
    if (n.nodeType === ELEMENT_NODE) out.push(n as Element);
  return out;
}

export function isElement(el: Element, ns: string, localName: string): boolean {
  return el.namespaceURI === ns && el.localName === localName;
}

/** Text content of an element that must hold text only (no child elements), trimmed. */
export function textOf(el: Element, maxLength: number): string {
  let out = '';
  for (let n = el.firstChild; n !== null; n = n.nextSibling) {
    if (n.nodeType === TEXT_NODE || n.nodeType === CDATA_NODE) out += n.nodeValue ?? '';
    else if (n.nodeType === ELEMENT_NODE) bad(`${el.localName} must contain text only`);
  }
  if (out.length > maxLength) bad(`${el.localName} is longer than ${maxLength}`);
  return out.trim();
}

export interface SoapEnvelope {
  soap: SoapVersion;
  header: Element | undefined;
  body: Element;
}

/** The Envelope: its namespace must match the content type's SOAP version; Header? then Body, nothing else. */
export function readEnvelope(doc: Document, soap: SoapVersion): SoapEnvelope {
  const env = doc.documentElement;
  const ns = soap === '1.2' ? SOAP12_NS : SOAP11_NS;
  if (!isElement(env, ns, 'Envelope'))
    bad(`root is {${env.namespaceURI ?? ''}}${env.localName}, expected a SOAP ${soap} Envelope`);
  const kids = childElements(env);
  let header: Element | undefined;
  let body: Element | undefined;
  if (kids.length === 2 && kids[0] !== undefined && isElement(kids[0], ns, 'Header')) {
    header = kids[0];
    body = kids[1];
  } else if (kids.length === 1) {
    body = kids[0];
  }
  if (body === undefined || !isElement(body, ns, 'Body'))
    bad('Envelope must hold an optional Header and one Body');
  return { soap, header, body };
}

/** SOAP's mustUnderstand attribute on a header block ("1"/"true"). */
export function mustUnderstand(el: Element, soap: SoapVersion): boolean {
  const v = el.getAttributeNS(soap === '1.2' ? SOAP12_NS : SOAP11_NS, 'mustUnderstand');
  return v === '1' || v === 'true';
}
