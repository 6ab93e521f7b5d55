/**
 * SAML 2.0 protocol messages fedgate reads (AuthnRequest, LogoutRequest, LogoutResponse; SAML Core §3.4,
 * §3.7) and writes (error Response, LogoutRequest, LogoutResponse). Reading: the root must be the expected
 * element in the protocol namespace (B1.9), every value is read by namespace URI (never prefix, B2.17), text
 * that must be text only is refused when it holds comments or elements (B2.15), IDs must be NCNames (B3.6).
 * Writing: like tokens/saml2.ts, every message is written directly in exclusive canonical form (sorted
 * attributes, xmlns on the element that first uses a prefix, no empty-element tags), so an enveloped
 * signature can be computed over the bytes as written.
 */
import type { SigningCredential } from '../../keys/types.ts';
import { FederationError } from '../../lib/errors.ts';
import { escapeAttr, escapeText, isXmlSafe } from '../../lib/xml-escape.ts';
import {
  attr,
  childElements,
  optionalChild,
  parseXmlStrict,
  textOnly,
  XmlRejected,
} from '../../lib/xml-parse.ts';
import { SAML_MESSAGE_LIMITS } from '../../lib/xml-limits.ts';
import { createEnvelopedSigner, isSafeXmlId, protectXml11LineEnds } from '../../tokens/xmldsig.ts';

export const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
export const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  noPassive: 'urn:oasis:names:tc:SAML:2.0:status:NoPassive',
  noAuthnContext: 'urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext',
  invalidNameIdPolicy: 'urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy',
  requestDenied: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied',
  partialLogout: 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout',
  unknownPrincipal: 'urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal',
} as const;

export function samlError(
  detail: string,
  message = 'The SAML request is not valid.',
): FederationError {
  return new FederationError('bad_request', message, { detail });
}

export function parseMessage(xml: string): Document {
  try {
    return parseXmlStrict(xml, SAML_MESSAGE_LIMITS);
  } catch (e) {
    throw samlError(e instanceof XmlRejected ? e.message : 'SAML message does not parse');
  }
}

function read<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof XmlRejected) throw samlError(e.message);
    throw e;
  }
}

function requireRoot(doc: Document, local: string): Element {
  const root = doc.documentElement;
  if (root.namespaceURI !== SAMLP || root.localName !== local)
    throw samlError(
      `root is {${String(root.namespaceURI)}}${root.localName}, expected samlp:${local}`,
    );
  if (root.getAttribute('Version') !== '2.0') throw samlError('Version is not 2.0');
  return root;
}

function id(root: Element): string {
  const v = root.getAttribute('ID') ?? '';
  if (!isSafeXmlId(v) || v.length > 256) throw samlError('ID is missing or not an NCName');
  return v;
}

function instant(root: Element, name: string, required: boolean): Date | undefined {
  const v = attr(root, name);
  if (v === undefined) {
    if (required) throw samlError(`${name} is missing`);
    return undefined;
  }
  // xs:dateTime in UTC (SAML Core §1.3.3).
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v))
    throw samlError(`${name} is not a UTC dateTime`);
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw samlError(`${name} is not a date`);
  return d;
}

function issuer(root: Element): string {
  return read(() => {
    const el = optionalChild(root, SAML, 'Issuer');
    if (el === undefined) throw samlError('Issuer is missing');
    const v = textOnly(el).trim();
    if (v === '' || v.length > 1024) throw samlError('Issuer is empty or too long');
    return v;
  });
}

function optAttr(el: Element, name: string): string | undefined {
  return attr(el, name);
}

export interface AuthnRequest {
  id: string;
  issuer: string;
  issueInstant: Date;
  destination?: string | undefined;
  acsUrl?: string | undefined;
  acsIndex?: number | undefined;
  protocolBinding?: string | undefined;
  forceAuthn: boolean;
  isPassive: boolean;
  nameIdFormat?: string | undefined;
  /** RequestedAuthnContext with class references (SAML Core §3.3.2.2.1); declarations are not supported. */
  requestedAuthnContext?: RequestedAuthnContext | undefined;
  /** The SP's language hints from `<samlp:Extensions>` (issue 17): see readLocaleHints. */
  localeHints: string[];
  /** `<saml:Subject><saml:NameID>`: who the SP expects to sign in (SAML Core §3.4.1), a login hint only. */
  subjectHint?: string | undefined;
}

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
/** Language-shaped values only; anything else in an extension is ignored, never shown. */
const LANG_VALUE = /^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}$/;

/**
 * The language an SP asks the login page to be in. SAML 2.0 has no standard element for it, so fedgate reads the
 * shapes SPs use in `<samlp:Extensions>` (SAML Core §3.2.1): a direct child named `UILocales`, `ui_locales`,
 * `Language` or `Locale` (any namespace) whose text is a space-separated list of language tags (as OIDC's
 * ui_locales), and the `xml:lang` of a direct child. At most 8 children and 8 tags are looked at.
 */
function readLocaleHints(root: Element): string[] {
  const ext = read(() => optionalChild(root, SAMLP, 'Extensions'));
  if (ext === undefined) return [];
  const out: string[] = [];
  for (const c of childElements(ext).slice(0, 8)) {
    if (['UILocales', 'ui_locales', 'Language', 'Locale'].includes(c.localName)) {
      for (const t of c.textContent.trim().split(/\s+/).slice(0, 8))
        if (LANG_VALUE.test(t)) out.push(t);
    }
    const lang = c.getAttributeNS(XML_NS, 'lang');
    if (lang !== null && LANG_VALUE.test(lang)) out.push(lang);
  }
  return out.slice(0, 8);
}

/** The AuthnRequest's Subject NameID as a login hint: short and printable, or nothing. */
function readSubjectHint(root: Element): string | undefined {
  const subject = read(() => optionalChild(root, SAML, 'Subject'));
  if (subject === undefined) return undefined;
  const nameId = read(() => optionalChild(subject, SAML, 'NameID'));
  if (nameId === undefined) return undefined;
  const v = nameId.textContent.trim();
  // eslint-disable-next-line no-control-regex -- a hint with control characters is not a user name
  return v === '' || v.length > 256 || /[\u0000-\u001f\u007f]/.test(v) ? undefined : v;
}

export interface RequestedAuthnContext {
  comparison: 'exact' | 'minimum' | 'maximum' | 'better';
  classRefs: string[];
}

/** At most 16 class references of at most 256 characters: anything longer is not a real request. */
function readRequestedAuthnContext(root: Element): RequestedAuthnContext | undefined {
  const rac = read(() => optionalChild(root, SAMLP, 'RequestedAuthnContext'));
  if (rac === undefined) return undefined;
  const comparison = attr(rac, 'Comparison') ?? 'exact';
  if (
    comparison !== 'exact' &&
    comparison !== 'minimum' &&
    comparison !== 'maximum' &&
    comparison !== 'better'
  )
    throw samlError('RequestedAuthnContext Comparison is not exact, minimum, maximum or better');
  const children = childElements(rac);
  if (children.some((c) => c.namespaceURI === SAML && c.localName === 'AuthnContextDeclRef'))
    return { comparison, classRefs: [] }; // declarations: nothing fedgate can match
  const classRefs = childElements(rac, SAML, 'AuthnContextClassRef').map((c) =>
    c.textContent.trim(),
  );
  if (classRefs.length === 0 || classRefs.length > 16 || classRefs.some((r) => r.length > 256))
    throw samlError('RequestedAuthnContext needs 1 to 16 AuthnContextClassRef values');
  return { comparison, classRefs };
}

function bool(el: Element, name: string): boolean {
  const v = attr(el, name);
  if (v === undefined) return false;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw samlError(`${name} is not a boolean`);
}

export function readAuthnRequest(doc: Document): AuthnRequest {
  const root = requireRoot(doc, 'AuthnRequest');
  const idxText = attr(root, 'AssertionConsumerServiceIndex');
  if (idxText !== undefined && !/^\d{1,5}$/.test(idxText))
    throw samlError('bad AssertionConsumerServiceIndex');
  const policy = read(() => optionalChild(root, SAMLP, 'NameIDPolicy'));
  return {
    id: id(root),
    issuer: issuer(root),
    issueInstant: instant(root, 'IssueInstant', true) as Date,
    destination: optAttr(root, 'Destination'),
    acsUrl: optAttr(root, 'AssertionConsumerServiceURL'),
    acsIndex: idxText === undefined ? undefined : Number(idxText),
    protocolBinding: optAttr(root, 'ProtocolBinding'),
    forceAuthn: bool(root, 'ForceAuthn'),
    isPassive: bool(root, 'IsPassive'),
    nameIdFormat: policy === undefined ? undefined : optAttr(policy, 'Format'),
    requestedAuthnContext: readRequestedAuthnContext(root),
    localeHints: readLocaleHints(root),
    subjectHint: readSubjectHint(root),
  };
}

export interface LogoutRequest {
  id: string;
  issuer: string;
  issueInstant: Date;
  destination?: string | undefined;
  notOnOrAfter?: Date | undefined;
  nameId: string;
  nameIdFormat?: string | undefined;
  sessionIndexes: string[];
}

export function readLogoutRequest(doc: Document): LogoutRequest {
  const root = requireRoot(doc, 'LogoutRequest');
  return read(() => {
    const nameIdEl = optionalChild(root, SAML, 'NameID');
    if (nameIdEl === undefined) throw samlError('NameID is missing (EncryptedID is not supported)');
    return {
      id: id(root),
      issuer: issuer(root),
      issueInstant: instant(root, 'IssueInstant', true) as Date,
      destination: optAttr(root, 'Destination'),
      notOnOrAfter: instant(root, 'NotOnOrAfter', false),
      nameId: textOnly(nameIdEl),
      nameIdFormat: optAttr(nameIdEl, 'Format'),
      sessionIndexes: childElements(root, SAMLP, 'SessionIndex').map((e) => textOnly(e)),
    };
  });
}

export interface LogoutResponse {
  id: string;
  issuer: string;
  inResponseTo?: string | undefined;
  status: string;
}

export function readLogoutResponse(doc: Document): LogoutResponse {
  const root = requireRoot(doc, 'LogoutResponse');
  return read(() => {
    const st = optionalChild(root, SAMLP, 'Status');
    const code = st === undefined ? undefined : optionalChild(st, SAMLP, 'StatusCode');
    return {
      id: id(root),
      issuer: issuer(root),
      inResponseTo: optAttr(root, 'InResponseTo'),
      status: code?.getAttribute('Value') ?? '',
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Writing (exclusive canonical form; see tokens/saml2.ts)

function t(v: string): string {
  if (!isXmlSafe(v))
    throw new FederationError('internal', 'The SAML message could not be written.');
  return escapeText(v);
}
function a(v: string): string {
  if (!isXmlSafe(v))
    throw new FederationError('internal', 'The SAML message could not be written.');
  return escapeAttr(v);
}

/** Sorted unqualified attributes (C14N 1.0 §2.2: attributes in lexicographic order). */
function attrs(list: Record<string, string | undefined>): string {
  return Object.keys(list)
    .filter((k) => list[k] !== undefined)
    .sort()
    .map((k) => ` ${k}="${a(list[k] as string)}"`)
    .join('');
}

function issuerEl(v: string): string {
  return `<saml:Issuer xmlns:saml="${SAML}">${t(v)}</saml:Issuer>`;
}

function statusEl(code: string, sub?: string, message?: string): string {
  const inner = sub === undefined ? '' : `<samlp:StatusCode Value="${a(sub)}"></samlp:StatusCode>`;
  return (
    `<samlp:Status><samlp:StatusCode Value="${a(code)}">${inner}</samlp:StatusCode>` +
    (message === undefined ? '' : `<samlp:StatusMessage>${t(message)}</samlp:StatusMessage>`) +
    '</samlp:Status>'
  );
}

/** head + (signature) + body, signed over head+body when `cred` is given (POST binding). */
function finish(
  id: string,
  head: string,
  body: string,
  cred: SigningCredential | undefined,
): string {
  if (cred === undefined) return protectXml11LineEnds(head + body);
  const sig = createEnvelopedSigner(cred).signatureFor(id, head + body);
  return protectXml11LineEnds(head + sig + body);
}

export interface StatusResponseInput {
  id: string;
  issuer: string;
  issueInstant: Date;
  destination: string;
  inResponseTo?: string | undefined;
  status: string;
  subStatus?: string | undefined;
  message?: string | undefined;
}

/** A samlp:Response carrying only a status (NoPassive, InvalidNameIDPolicy, RequestDenied…), signed. */
export function writeStatusResponse(m: StatusResponseInput, cred: SigningCredential): string {
  const head =
    `<samlp:Response xmlns:samlp="${SAMLP}"` +
    attrs({
      Destination: m.destination,
      ID: m.id,
      InResponseTo: m.inResponseTo,
      IssueInstant: m.issueInstant.toISOString(),
      Version: '2.0',
    }) +
    '>' +
    issuerEl(m.issuer);
  const body = statusEl(m.status, m.subStatus, m.message) + '</samlp:Response>';
  return finish(m.id, head, body, cred);
}

export interface LogoutResponseInput {
  id: string;
  issuer: string;
  issueInstant: Date;
  destination: string;
  inResponseTo: string;
  status: string;
  subStatus?: string | undefined;
}

export function writeLogoutResponse(m: LogoutResponseInput, cred?: SigningCredential): string {
  const head =
    `<samlp:LogoutResponse xmlns:samlp="${SAMLP}"` +
    attrs({
      Destination: m.destination,
      ID: m.id,
      InResponseTo: m.inResponseTo,
      IssueInstant: m.issueInstant.toISOString(),
      Version: '2.0',
    }) +
    '>' +
    issuerEl(m.issuer);
  return finish(m.id, head, statusEl(m.status, m.subStatus) + '</samlp:LogoutResponse>', cred);
}

export interface LogoutRequestInput {
  id: string;
  issuer: string;
  issueInstant: Date;
  destination: string;
  notOnOrAfter: Date;
  nameId: string;
  nameIdFormat?: string | undefined;
  sessionIndex?: string | undefined;
}

export function writeLogoutRequest(m: LogoutRequestInput, cred?: SigningCredential): string {
  const head =
    `<samlp:LogoutRequest xmlns:samlp="${SAMLP}"` +
    attrs({
      Destination: m.destination,
      ID: m.id,
      IssueInstant: m.issueInstant.toISOString(),
      NotOnOrAfter: m.notOnOrAfter.toISOString(),
      Version: '2.0',
    }) +
    '>' +
    issuerEl(m.issuer);
  const body =
    `<saml:NameID xmlns:saml="${SAML}"${attrs({ Format: m.nameIdFormat })}>${t(m.nameId)}</saml:NameID>` +
    (m.sessionIndex === undefined
      ? ''
      : `<samlp:SessionIndex>${t(m.sessionIndex)}</samlp:SessionIndex>`) +
    '</samlp:LogoutRequest>';
  return finish(m.id, head, body, cred);
}
