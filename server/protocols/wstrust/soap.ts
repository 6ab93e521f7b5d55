/**
 * SOAP for the WS-Trust endpoints: a strict XML reader (every rule here runs before any credential is looked
 * at) and the SOAP fault writer.
 *
 * Reader rules (security-corpus B1, B4.2): UTF-8 only; no NUL; no DOCTYPE or any other markup declaration
 * (SOAP 1.2 Part 1 §5 forbids a DTD in a SOAP message, so nothing legitimate is lost); no processing
 * instruction other than a leading XML declaration; exactly one root element and nothing but whitespace
 * around it (no comments, no trailing garbage); every xmldom warning or error fatal; every prefix bound;
 * bounded depth, element count and attributes per element (the body size is bounded before this runs).
 *
 * Faults: one writer for SOAP 1.2 (Code/Subcode/Reason, both always present: MSAL's fault parser needs both,
 * entra-protocol §3.5) and SOAP 1.1 (faultcode/faultstring). The text is fixed per fault kind; the only
 * per-request part is the activity id in the Detail. Nothing internal (directory text, stack, parser
 * message) is ever written into a fault: that goes to the log.
 */
import { SOAP_LIMITS } from '../../lib/xml-limits.ts';
import { checkXmlTagBalance } from '../../lib/xml-tag-balance.ts';
import { DOMParser } from '@xmldom/xmldom';
import { escapeText } from '../../lib/xml-escape.ts';
import {
  ADDRESSING_FAULT_ACTION,
  SOAP11_NS,
  SOAP12_NS,
  WSA_NS,
  WSSE_NS,
  type TrustVersionInfo,
} from './constants.ts';

export type SoapVersion = '1.1' | '1.2';

export const MAX_DEPTH = SOAP_LIMITS.maxDepth ?? 24;
export const MAX_ELEMENTS = SOAP_LIMITS.maxElements ?? 1000;
export const MAX_ATTRIBUTES = SOAP_LIMITS.maxAttributes ?? 32;

/** Fault kinds; each has one fixed code, text and HTTP status. */
export type FaultKind =
  | 'invalid_request'
  | 'failed_authentication'
  | 'invalid_security'
  | 'message_expired'
  | 'replay'
  | 'unsupported_token'
  | 'invalid_scope'
  | 'access_denied'
  | 'request_failed'
  | 'unavailable'
  | 'not_https'
  | 'too_large'
  | 'unsupported_media_type'
  | 'method_not_allowed';

interface FaultSpec {
  /** SOAP 1.2 Code: Sender (the message is at fault) or Receiver (we are). */
  code: 'Sender' | 'Receiver';
  /** Subcode namespace: 'trust' = the endpoint's WS-Trust namespace; 'wsse' = WS-Security 1.0. */
  subNs: 'trust' | 'wsse';
  sub: string;
  reason: string;
  /** HTTP status: SOAP_FAULT_STATUS for every fault about the message; the transport refusals their own. */
  status: number;
}

/**
 * HTTP status of every SOAP fault raised while processing the message, Sender and Receiver alike, SOAP 1.2 and
 * 1.1: 500, as AD FS sends them. SOAP 1.2's HTTP binding (Part 2 §7.5.2.2) would give Sender faults 400, but
 * AD FS (WCF underneath) answers every fault, a wrong password included, with 500: MSAL for Python says so
 * where it ignores the status ("ADFS uses 5xx status code even with client-side incorrect password error",
 * msal/wstrust_request.py; entra-protocol §3.4), and SOAP 1.1 (§6.2) requires 500 anyway. Clients written
 * against AD FS see 500 and read the fault body (MSAL ignores the status altogether), so answering as AD FS
 * does is the compatible choice. One status for all of them also means the status says nothing the body
 * does not (the credential fault is already byte-identical, B4.4). The refusals that happen before the
 * message is looked at keep their HTTP meaning: 403 (not HTTPS), 405, 413, 415; and so does an outage of
 * what the node depends on (the shared store with the replay caches, the directory): 503, as the passive
 * flow answers (a node that cannot serve now, not a fault of the message; corpus E3, the farm's balancer).
 */
export const SOAP_FAULT_STATUS = 500;

/**
 * One fixed text per kind. failed_authentication is THE credential fault: unknown user, wrong password,
 * disabled, locked, expired and must-change all get it byte for byte (corpus B4.4, C2.1); the text is the one
 * AD FS sends (entra-protocol §3.5).
 */
const FAULTS: Record<FaultKind, FaultSpec> = {
  invalid_request: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidRequest',
    reason: 'The request is not a valid WS-Trust request.',
    status: SOAP_FAULT_STATUS,
  },
  failed_authentication: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'FailedAuthentication',
    reason: 'ID3242: The security token could not be authenticated or authorized.',
    status: SOAP_FAULT_STATUS,
  },
  invalid_security: {
    code: 'Sender',
    subNs: 'wsse',
    sub: 'InvalidSecurity',
    reason: 'An error was discovered processing the wsse:Security header.',
    status: SOAP_FAULT_STATUS,
  },
  message_expired: {
    code: 'Sender',
    subNs: 'wsse',
    sub: 'MessageExpired',
    reason:
      'The message timestamp is missing, expired or outside the allowed clock skew. Check the client clock.',
    status: SOAP_FAULT_STATUS,
  },
  replay: {
    code: 'Sender',
    subNs: 'wsse',
    sub: 'InvalidSecurity',
    reason: 'The message was already received (replay).',
    status: SOAP_FAULT_STATUS,
  },
  unsupported_token: {
    code: 'Sender',
    subNs: 'wsse',
    sub: 'UnsupportedSecurityToken',
    reason: 'Only a UsernameToken with a plain-text password is accepted at this endpoint.',
    status: SOAP_FAULT_STATUS,
  },
  invalid_scope: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidScope',
    reason: 'The AppliesTo address is not a relying party of this federation service.',
    status: SOAP_FAULT_STATUS,
  },
  access_denied: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'RequestFailed',
    reason: 'MSIS3127: The specified request failed.',
    status: SOAP_FAULT_STATUS,
  },
  request_failed: {
    code: 'Receiver',
    subNs: 'trust',
    sub: 'RequestFailed',
    reason: 'MSIS3127: The specified request failed.',
    status: SOAP_FAULT_STATUS,
  },
  unavailable: {
    code: 'Receiver',
    subNs: 'trust',
    sub: 'RequestFailed',
    reason: 'The federation service is temporarily unavailable. Try again later.',
    status: 503,
  },
  not_https: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidRequest',
    reason: 'This endpoint accepts requests over HTTPS only.',
    status: 403,
  },
  too_large: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidRequest',
    reason: 'The request is too large.',
    status: 413,
  },
  unsupported_media_type: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidRequest',
    reason:
      'The request must be a SOAP 1.2 (application/soap+xml) or SOAP 1.1 (text/xml) message in UTF-8.',
    status: 415,
  },
  method_not_allowed: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidRequest',
    reason: 'This endpoint accepts only POST.',
    status: 405,
  },
};

/** The one error type of this protocol: becomes a SOAP fault at the router's edge. */
export class WsTrustFault extends Error {
  readonly kind: FaultKind;
  /** Internal detail for the log only; never written into the fault. */
  readonly detail: string;
  constructor(kind: FaultKind, detail: string) {
    super(FAULTS[kind].reason);
    this.name = 'WsTrustFault';
    this.kind = kind;
    this.detail = detail;
  }
}

export const FAULT_DETAIL_NS = 'urn:fedgate:wstrust:fault';

/** Serialises a fault, with its HTTP status (SOAP_FAULT_STATUS unless transport-level). */
export function writeFault(
  kind: FaultKind,
  soap: SoapVersion,
  version: TrustVersionInfo,
  activityId: string,
): { status: number; contentType: string; body: string } {
  const f = FAULTS[kind];
  const subNs = f.subNs === 'trust' ? version.ns : WSSE_NS;
  const detail = `<fg:ActivityId xmlns:fg="${FAULT_DETAIL_NS}">${escapeText(activityId)}</fg:ActivityId>`;
  if (soap === '1.2') {
    return {
      status: f.status,
      contentType: 'application/soap+xml; charset=utf-8',
      body:
        `<s:Envelope xmlns:s="${SOAP12_NS}" xmlns:a="${WSA_NS}">` +
        `<s:Header><a:Action s:mustUnderstand="1">${ADDRESSING_FAULT_ACTION}</a:Action></s:Header>` +
        '<s:Body><s:Fault>' +
        `<s:Code><s:Value>s:${f.code}</s:Value>` +
        `<s:Subcode><s:Value xmlns:a="${subNs}">a:${f.sub}</s:Value></s:Subcode></s:Code>` +
        `<s:Reason><s:Text xml:lang="en-US">${escapeText(f.reason)}</s:Text></s:Reason>` +
        `<s:Detail>${detail}</s:Detail>` +
        '</s:Fault></s:Body></s:Envelope>',
    };
  }
  return {
    status: f.status,
    contentType: 'text/xml; charset=utf-8',
    body:
      `<s:Envelope xmlns:s="${SOAP11_NS}"><s:Body><s:Fault>` +
      `<faultcode xmlns:a="${subNs}">a:${f.sub}</faultcode>` +
      `<faultstring xml:lang="en-US">${escapeText(f.reason)}</faultstring>` +
      `<detail>${detail}</detail>` +
      '</s:Fault></s:Body></s:Envelope>',
  };
}

// ---------------------------------------------------------------------------------------------------------
// Strict reading

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_NODE = 4;
const PI_NODE = 7;

function bad(detail: string): never {
  throw new WsTrustFault('invalid_request', detail);
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
