/**
 * Independent verifiers for what fedgate signs. They use other people's code (xml-crypto's SignedXml,
 * the xmlsec1 CLI) and never fedgate's writers, so a bug in a writer cannot hide itself.
 *
 * Rules they enforce (security-corpus A1, A3, A4, A11, A13, A14, A20):
 * - no DOCTYPE, exactly one root element, fatal parse errors throw;
 * - the signature is checked with a pinned certificate only (`getCertFromKeyInfo` returns null, so a
 *   certificate in KeyInfo is never used);
 * - algorithms from an allow-list (exc-c14n, rsa-sha256, sha256, transforms ⊆ {enveloped, exc-c14n});
 * - exactly one Reference, to the element expected, and claims are read only from the canonical bytes
 *   xml-crypto reports as signed (`getSignedReferences()`), never from the original document.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { CacheProvider, Profile } from '@node-saml/node-saml';
import { DOMParser } from '@xmldom/xmldom';
// xmldom 0.8 returns the standard DOM types (tsconfig lib DOM).
type XDocument = Document;
type XElement = Element;
import { ExclusiveCanonicalization, SignedXml } from 'xml-crypto';

export const SAML11_NS = 'urn:oasis:names:tc:SAML:1.0:assertion';
export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
export const MD_NS = 'urn:oasis:names:tc:SAML:2.0:metadata';
export const FED_NS = 'http://docs.oasis-open.org/wsfed/federation/200706';
export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
export const WSA_NS = 'http://www.w3.org/2005/08/addressing';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';

export interface Saml11Claims {
  assertionId: string;
  issuer: string;
  audience: string;
  /** null when the Subject has no NameIdentifier (rules that issue no nameidentifier, issue 14 §8). */
  nameIdentifier: string | null;
  nameIdentifierFormat: string | null;
  notBefore: string;
  notOnOrAfter: string;
  issueInstant: string;
  authMethod: string;
  authInstant: string;
  /** Key: AttributeNamespace + '/' + AttributeName (the claim type). Values in document order. */
  attributes: Record<string, string[]>;
  /** Number of saml:Attribute elements (attribute smuggling shows up here even when names repeat). */
  attributeElementCount: number;
  /** The canonical bytes xml-crypto verified (what every claim above was read from). */
  signedXml: string;
}

// ---------------------------------------------------------------------------------------------------------
// Parsing

/**
 * Parses XML the strict way: no DOCTYPE (A20), every parser error and leniency warning fatal, exactly one
 * root element (A11). Line ends are normalised by the XML 1.0 rule (§2.11: CR LF and CR become LF) rather
 * than xmldom's default XML 1.1 rule, which also turns U+0085/U+2028/U+2029 into LF: claims are read from
 * canonical bytes, where those characters are literal, and must come out byte-exact.
 */
/** xmldom 0.8 options: every report goes to `onReport`; XML 1.0 line-end normalisation (its JS option, untyped). */
export function strictParserOptions(
  onReport: (level: string, msg: string) => void,
): ConstructorParameters<typeof DOMParser>[0] {
  const opts = {
    normalizeLineEndings: (source: string) => source.replace(/\r\n?/g, '\n'),
    errorHandler: (level: string, msg: unknown) => {
      onReport(level, String(msg));
    },
  };
  return opts;
}

export function parseStrict(xml: string): XDocument {
  if (/<!DOCTYPE/i.test(xml)) throw new Error('XML with a DOCTYPE is refused');
  const doc = new DOMParser(
    strictParserOptions((level, msg) => {
      // U+FFFD is a legal character; xmldom only warns that it might come from a decoding problem.
      if (level === 'warning' && msg.startsWith('Unicode replacement character')) return;
      throw new Error(`XML parse ${level}: ${msg}`);
    }),
  ).parseFromString(xml, 'text/xml');
  const roots = Array.from(doc.childNodes).filter((n) => n.nodeType === 1);
  if (roots.length !== 1 || (doc.documentElement as Element | null) === null)
    throw new Error('XML must have exactly one root element');
  return doc;
}

export function childElements(el: XElement, ns?: string, localName?: string): XElement[] {
  const out: XElement[] = [];
  for (let n = el.firstChild; n !== null; n = n.nextSibling) {
    if (n.nodeType !== 1) continue;
    const e = n as XElement;
    if (ns !== undefined && e.namespaceURI !== ns) continue;
    if (localName !== undefined && e.localName !== localName) continue;
    out.push(e);
  }
  return out;
}

function only(el: XElement, ns: string, localName: string): XElement {
  const found = childElements(el, ns, localName);
  const [first] = found;
  if (found.length !== 1 || first === undefined) {
    throw new Error(`expected exactly one ${localName} in ${el.localName}, found ${found.length}`);
  }
  return first;
}

function requiredAttr(el: XElement, name: string): string {
  const v = el.getAttribute(name);
  if (v === null) throw new Error(`${el.localName} has no ${name} attribute`);
  return v;
}

/** xml-crypto's exclusive canonicalization (no comments, no InclusiveNamespaces) of one element. */
export function excC14n(el: XElement): string {
  const out: unknown = new ExclusiveCanonicalization().process(el, {});
  if (typeof out !== 'string') throw new Error('canonicalization returned no text');
  return out;
}

function textOnly(el: XElement): string {
  if (childElements(el).length > 0) throw new Error(`${el.localName} must contain text only`);
  return el.textContent;
}

// ---------------------------------------------------------------------------------------------------------
// xml-crypto

/**
 * Checks `signature` over `xml` with xml-crypto and a pinned certificate; returns the single signed
 * reference's canonical XML. `idAttribute` is the ID attribute the Reference must point to on `target`.
 */
function checkWithXmlCrypto(
  xml: string,
  signature: XElement,
  target: XElement,
  idAttribute: string,
  certPem: string,
): string {
  // xml-crypto always looks for Id/ID/id; naming one of those again makes it count the element twice and
  // refuse the document as a wrapping attack, so only a non-default name (AssertionID) is passed.
  const sig = new SignedXml({
    publicCert: certPem,
    getCertFromKeyInfo: () => null,
    ...(['Id', 'ID', 'id'].includes(idAttribute) ? {} : { idAttribute }),
  });
  sig.loadSignature(signature);
  // Algorithm allow-list (A4): never let the message choose something else.
  if (sig.canonicalizationAlgorithm !== EXC_C14N)
    throw new Error(`canonicalization ${String(sig.canonicalizationAlgorithm)} not allowed`);
  if (sig.signatureAlgorithm !== RSA_SHA256)
    throw new Error(`signature algorithm ${String(sig.signatureAlgorithm)} not allowed`);

  let valid: boolean;
  try {
    valid = sig.checkSignature(xml);
  } catch (err) {
    // A6: any throw is a failure; nothing is read from `sig` afterwards.
    throw new Error(`signature invalid: ${(err as Error).message}`, { cause: err });
  }
  if (!valid) throw new Error('signature invalid: a reference digest does not match');

  const refs = sig.getReferences();
  const [ref] = refs;
  if (refs.length !== 1 || ref === undefined)
    throw new Error(`expected exactly one Reference, found ${refs.length}`);
  const id = target.getAttribute(idAttribute);
  if (id === null || ref.uri !== `#${id}`)
    throw new Error(`Reference ${ref.uri} does not point at the expected element`);
  if (ref.digestAlgorithm !== SHA256) throw new Error(`digest ${ref.digestAlgorithm} not allowed`);
  if (ref.transforms.length > 2 || ref.transforms.some((t) => t !== ENVELOPED && t !== EXC_C14N)) {
    throw new Error(`transforms ${ref.transforms.join(', ')} not allowed`); // A14
  }
  const signed = sig.getSignedReferences();
  const [signedXml] = signed;
  if (signed.length !== 1 || signedXml === undefined)
    throw new Error('expected exactly one signed reference');
  return signedXml;
}

/**
 * Verifies a signed SAML 1.1 assertion (bare, or inside an RSTR/SOAP envelope) with xml-crypto and a pinned
 * certificate, and returns the claims read from the verified canonical bytes. Throws on any failure.
 */
export function verifySaml11WithXmlCrypto(xml: string, certPem: string): Saml11Claims {
  const doc = parseStrict(xml);
  const assertions = Array.from(doc.getElementsByTagNameNS(SAML11_NS, 'Assertion'));
  const [assertion] = assertions;
  if (assertions.length !== 1 || assertion === undefined)
    throw new Error(`expected exactly one saml:Assertion, found ${assertions.length}`);
  const signatures = Array.from(doc.getElementsByTagNameNS(DSIG_NS, 'Signature'));
  const [signature] = signatures;
  if (signatures.length !== 1 || signature === undefined)
    throw new Error(`expected exactly one ds:Signature, found ${signatures.length}`);
  if (signature.parentNode !== assertion)
    throw new Error('ds:Signature must be a child of saml:Assertion');

  const signedXml = checkWithXmlCrypto(xml, signature, assertion, 'AssertionID', certPem);
  const claims = readSaml11(parseStrict(signedXml).documentElement);
  if (claims.assertionId !== assertion.getAttribute('AssertionID'))
    throw new Error('signed reference is not the assertion');
  return { ...claims, signedXml };
}

/** Reads a SAML 1.1 assertion element (call it only on verified bytes). */
function readSaml11(a: XElement): Omit<Saml11Claims, 'signedXml'> {
  if (a.namespaceURI !== SAML11_NS || a.localName !== 'Assertion')
    throw new Error('signed element is not saml:Assertion');
  if (a.getAttribute('MajorVersion') !== '1' || a.getAttribute('MinorVersion') !== '1')
    throw new Error('not SAML 1.1');
  if (childElements(a, DSIG_NS, 'Signature').length !== 0)
    throw new Error('signed bytes still contain a signature');

  const conditions = only(a, SAML11_NS, 'Conditions');
  const audiences = childElements(conditions, SAML11_NS, 'AudienceRestrictionCondition').flatMap(
    (c) => childElements(c, SAML11_NS, 'Audience'),
  );
  const [audience] = audiences;
  // [MS-MWBF] §2.2.4.2: exactly one Audience.
  if (audiences.length !== 1 || audience === undefined)
    throw new Error(`expected exactly one Audience, found ${audiences.length}`);

  const subjectOf = (stmt: XElement): { value: string | null; format: string | null } => {
    const subject = only(stmt, SAML11_NS, 'Subject');
    // SAML 1.1 Core §2.4.2.2: NameIdentifier is optional when a SubjectConfirmation is present; at most one.
    const nameIds = childElements(subject, SAML11_NS, 'NameIdentifier');
    if (nameIds.length > 1) throw new Error('more than one NameIdentifier');
    const [nameId] = nameIds;
    const confirmation = only(subject, SAML11_NS, 'SubjectConfirmation');
    const method = textOnly(only(confirmation, SAML11_NS, 'ConfirmationMethod'));
    if (method !== 'urn:oasis:names:tc:SAML:1.0:cm:bearer')
      throw new Error(`confirmation method ${method}`);
    if (childElements(subject)[0] !== (nameId ?? confirmation))
      throw new Error('Subject children out of schema order');
    return nameId === undefined
      ? { value: null, format: null }
      : { value: textOnly(nameId), format: nameId.getAttribute('Format') };
  };

  const authn = only(a, SAML11_NS, 'AuthenticationStatement');
  const subject = subjectOf(authn);

  const attributes: Record<string, string[]> = {};
  let attributeElementCount = 0;
  const statements = childElements(a, SAML11_NS, 'AttributeStatement');
  if (statements.length > 1) throw new Error('more than one AttributeStatement');
  for (const stmt of statements) {
    const s = subjectOf(stmt);
    if (s.value !== subject.value || s.format !== subject.format)
      throw new Error('statements name different subjects');
    for (const attr of childElements(stmt, SAML11_NS, 'Attribute')) {
      attributeElementCount++;
      const key = `${requiredAttr(attr, 'AttributeNamespace')}/${requiredAttr(attr, 'AttributeName')}`;
      const values = childElements(attr, SAML11_NS, 'AttributeValue').map(textOnly);
      attributes[key] = [...(attributes[key] ?? []), ...values];
    }
  }

  return {
    assertionId: requiredAttr(a, 'AssertionID'),
    issuer: requiredAttr(a, 'Issuer'),
    issueInstant: requiredAttr(a, 'IssueInstant'),
    audience: textOnly(audience),
    nameIdentifier: subject.value,
    nameIdentifierFormat: subject.format,
    notBefore: requiredAttr(conditions, 'NotBefore'),
    notOnOrAfter: requiredAttr(conditions, 'NotOnOrAfter'),
    authMethod: requiredAttr(authn, 'AuthenticationMethod'),
    authInstant: requiredAttr(authn, 'AuthenticationInstant'),
    attributes,
    attributeElementCount,
  };
}

/** Verifies signed federation metadata (enveloped signature on EntityDescriptor, Reference to #ID). */
export function verifyMetadataWithXmlCrypto(
  xml: string,
  certPem: string,
): { entityId: string; signedXml: string } {
  const doc = parseStrict(xml);
  const root = doc.documentElement as XElement;
  if (root.namespaceURI !== MD_NS || root.localName !== 'EntityDescriptor')
    throw new Error('root is not md:EntityDescriptor');
  const signatures = Array.from(doc.getElementsByTagNameNS(DSIG_NS, 'Signature'));
  const [signature] = signatures;
  if (signatures.length !== 1 || signature === undefined)
    throw new Error(`expected exactly one ds:Signature, found ${signatures.length}`);
  if (signature.parentNode !== root)
    throw new Error('ds:Signature must be a child of EntityDescriptor');
  const signedXml = checkWithXmlCrypto(xml, signature, root, 'ID', certPem);
  const signedRoot = parseStrict(signedXml).documentElement as XElement;
  return { entityId: requiredAttr(signedRoot, 'entityID'), signedXml };
}

// ---------------------------------------------------------------------------------------------------------
// xmlsec1

export interface IdAttr {
  name: string;
  ns: string;
  element: string;
}
export const SAML11_ID_ATTR: IdAttr = { name: 'AssertionID', ns: SAML11_NS, element: 'Assertion' };
export const METADATA_ID_ATTR: IdAttr = { name: 'ID', ns: MD_NS, element: 'EntityDescriptor' };

/**
 * Runs `xmlsec1 --verify` with the certificate as the only trusted key; `opts.nodeXPath` selects the
 * ds:Signature to check (default: the first in document order). Returns ok=false (with xmlsec1's output)
 * when verification fails; throws when xmlsec1 is not installed, so tests fail rather than skip.
 */
export function verifyWithXmlsec1(
  xml: string,
  certPem: string,
  idAttr: IdAttr | readonly IdAttr[],
  opts: { nodeXPath?: string } = {},
): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-xmlsec1-'));
  try {
    const docFile = join(dir, 'doc.xml');
    const certFile = join(dir, 'cert.pem');
    writeFileSync(docFile, xml, 'utf8');
    writeFileSync(certFile, certPem, 'utf8');
    const res = spawnSync(
      'xmlsec1',
      [
        '--verify',
        '--pubkey-cert-pem',
        certFile,
        ...('name' in idAttr ? [idAttr] : idAttr).flatMap((a) => [
          `--id-attr:${a.name}`,
          `${a.ns}:${a.element}`,
        ]),
        // Which signature to check; without it xmlsec1 checks the first ds:Signature in document order.
        ...(opts.nodeXPath === undefined ? [] : ['--node-xpath', opts.nodeXPath]),
        docFile,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (res.error !== undefined) {
      if ((res.error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error(
          'xmlsec1 is not installed (apt-get install -y xmlsec1); signature interop tests need it',
        );
      }
      throw res.error;
    }
    const output = `${res.stdout}${res.stderr}`;
    return { ok: res.status === 0 && /^OK$/m.test(output), output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Extraction the way clients do it

/**
 * The raw text between the RequestedSecurityToken tags, found with MSAL's regular expression
 * (msal/wstrust_response.py: prefix-agnostic, greedy, across lines), so verification runs on the exact bytes
 * a client would forward.
 */
export function extractAssertionFromRstr(rstrXml: string): string {
  const m = /<(?:\w+:)?RequestedSecurityToken[^>]*>(.*)<\/(?:\w+:)?RequestedSecurityToken/s.exec(
    rstrXml,
  );
  const token = m?.[1];
  if (token === undefined) throw new Error('no RequestedSecurityToken in the RSTR');
  return token;
}

export interface WsFedMetadataView {
  issuer: string;
  /** base64 DER, in document order. */
  signingCertificates: string[];
  passiveRequestorEndpoint: string | undefined;
  activeTokenEndpoint: string | undefined;
}

function isStsRoleDescriptor(el: XElement): boolean {
  if (el.namespaceURI !== MD_NS || el.localName !== 'RoleDescriptor') return false;
  const type = el.getAttributeNS(XSI_NS, 'type');
  if (type === null || type === '') return false;
  const [prefix, local] = type.includes(':') ? type.split(':', 2) : [null, type];
  return local === 'SecurityTokenServiceType' && el.lookupNamespaceURI(prefix ?? null) === FED_NS;
}

function endpointAddress(el: XElement): string {
  const epr = only(el, WSA_NS, 'EndpointReference');
  return textOnly(only(epr, WSA_NS, 'Address')).replace(/^[ \n]+|[ \n]+$/g, '');
}

/**
 * Reads metadata the way Microsoft.IdentityModel's WsFederationMetadataSerializer does: issuer from
 * entityID; from each RoleDescriptor whose xsi:type resolves to fed:SecurityTokenServiceType, every
 * KeyDescriptor's KeyInfo (which must be its first child) X509Certificate, the PassiveRequestorEndpoint and
 * the SecurityTokenServiceEndpoint addresses. Does not check the signature.
 */
export function readWsFedMetadata(metadataXml: string): WsFedMetadataView {
  const root = parseStrict(metadataXml).documentElement as XElement;
  if (root.namespaceURI !== MD_NS || root.localName !== 'EntityDescriptor')
    throw new Error('root is not md:EntityDescriptor');
  const issuer = root.getAttribute('entityID');
  if (issuer === null || issuer === '')
    throw new Error('EntityDescriptor has no entityID (IDX22801)');
  const view: WsFedMetadataView = {
    issuer,
    signingCertificates: [],
    passiveRequestorEndpoint: undefined,
    activeTokenEndpoint: undefined,
  };
  for (const role of childElements(root).filter(isStsRoleDescriptor)) {
    for (const child of childElements(role)) {
      if (child.namespaceURI === MD_NS && child.localName === 'KeyDescriptor') {
        const use = child.getAttribute('use');
        if (use !== null && use !== '' && use !== 'signing') continue;
        const [keyInfo] = childElements(child);
        if (keyInfo?.namespaceURI !== DSIG_NS || keyInfo.localName !== 'KeyInfo') {
          throw new Error('KeyDescriptor must start with ds:KeyInfo (IDX22802)');
        }
        for (const data of childElements(keyInfo, DSIG_NS, 'X509Data')) {
          for (const c of childElements(data, DSIG_NS, 'X509Certificate'))
            view.signingCertificates.push(textOnly(c).replace(/\s+/g, ''));
        }
      } else if (child.namespaceURI === FED_NS && child.localName === 'PassiveRequestorEndpoint') {
        view.passiveRequestorEndpoint = endpointAddress(child);
      } else if (
        child.namespaceURI === FED_NS &&
        child.localName === 'SecurityTokenServiceEndpoint'
      ) {
        view.activeTokenEndpoint = endpointAddress(child);
      }
    }
  }
  return view;
}

/** PEM certificates of the STS RoleDescriptor's signing KeyDescriptors (the signature is not checked here). */
export function certFromMetadata(metadataXml: string): string[] {
  return readWsFedMetadata(metadataXml).signingCertificates.map(pemFromBase64);
}

export function pemFromBase64(b64: string): string {
  const pem = `-----BEGIN CERTIFICATE-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;
  return new X509Certificate(pem).toString(); // throws when it is not a certificate
}

// ---------------------------------------------------------------------------------------------------------
// SAML 2.0 (Web Browser SSO profile, HTTP-POST binding)

export const SAML2_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const SAMLP_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
export const SAML2_ASSERTION_ID_ATTR: IdAttr = { name: 'ID', ns: SAML2_NS, element: 'Assertion' };
export const SAML2_RESPONSE_ID_ATTR: IdAttr = { name: 'ID', ns: SAMLP_NS, element: 'Response' };
const CM_BEARER_2 = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

export interface Saml2AttributeView {
  name: string;
  nameFormat: string | null;
  friendlyName: string | null;
  values: string[];
}

export interface Saml2AssertionClaims {
  assertionId: string;
  issuer: string;
  issueInstant: string;
  /** null when the Subject carries no NameID (rules that issue no nameidentifier, issue 14 §8). */
  nameId: string | null;
  nameIdFormat: string | null;
  /** From the bearer SubjectConfirmationData. */
  recipient: string;
  subjectNotOnOrAfter: string;
  subjectInResponseTo: string | null;
  notBefore: string;
  notOnOrAfter: string;
  audience: string;
  /** Every saml:Attribute element in document order (attribute smuggling changes this list). */
  attributes: Saml2AttributeView[];
  authnInstant: string;
  sessionIndex: string | null;
  authnContextClassRef: string;
  /** The canonical bytes the claims were read from (verified by xml-crypto, directly or via the Response). */
  signedXml: string;
}

export interface Saml2ResponseView {
  responseId: string;
  issuer: string;
  issueInstant: string;
  destination: string | null;
  inResponseTo: string | null;
  consent: string | null;
  statusCode: string;
  /** The verified canonical Response when it is signed (its fields were read from it), else null. */
  signedResponseXml: string | null;
  assertion: Saml2AssertionClaims;
}

/** xmldom 0.8's getAttribute returns '' for a missing attribute; this tells the two apart. */
function optionalAttr(el: XElement, name: string): string | null {
  return el.hasAttribute(name) ? el.getAttribute(name) : null;
}

function presentAttr(el: XElement, name: string): string {
  const v = optionalAttr(el, name);
  if (v === null) throw new Error(`${el.localName} has no ${name} attribute`);
  return v;
}

/** The signature of `parent`, which SAML Core's schemas place directly after its saml:Issuer. */
function signatureAfterIssuer(parent: XElement): XElement {
  const sigs = childElements(parent, DSIG_NS, 'Signature');
  const [sig] = sigs;
  if (sigs.length !== 1 || sig === undefined)
    throw new Error(
      `expected exactly one ds:Signature in ${parent.localName}, found ${sigs.length}`,
    );
  const [first, second] = childElements(parent);
  if (first?.namespaceURI !== SAML2_NS || first.localName !== 'Issuer' || second !== sig)
    throw new Error(`ds:Signature must directly follow saml:Issuer in ${parent.localName}`);
  return sig;
}

function verifiedAssertion(xml: string, a: XElement, certPem: string): Saml2AssertionClaims {
  const signedXml = checkWithXmlCrypto(xml, signatureAfterIssuer(a), a, 'ID', certPem);
  const claims = readSaml2Assertion(parseStrict(signedXml).documentElement);
  if (claims.assertionId !== a.getAttribute('ID'))
    throw new Error('signed reference is not the assertion');
  return { ...claims, signedXml };
}

/** Verifies a bare signed SAML 2.0 assertion (root saml:Assertion) with xml-crypto and a pinned certificate. */
export function verifySaml2AssertionWithXmlCrypto(
  xml: string,
  certPem: string,
): Saml2AssertionClaims {
  const doc = parseStrict(xml);
  const a = doc.documentElement as XElement;
  if (a.namespaceURI !== SAML2_NS || a.localName !== 'Assertion')
    throw new Error('root is not a SAML 2.0 saml:Assertion');
  if (doc.getElementsByTagNameNS(DSIG_NS, 'Signature').length !== 1)
    throw new Error('expected exactly one ds:Signature');
  return verifiedAssertion(xml, a, certPem);
}

/**
 * Verifies a `samlp:Response` the way a strict SP does, with xml-crypto and a pinned certificate:
 * exactly one saml:Assertion in the whole document, a child of the Response (XSW, B2.3/B2.4/B2.10); exactly
 * the expected signatures (`assertionSigned` default true, `responseSigned` default false), each directly
 * after its parent's Issuer and referencing its parent; claims read only from verified canonical bytes,
 * the Response fields too when the Response is signed.
 */
export function verifySaml2ResponseWithXmlCrypto(
  xml: string,
  certPem: string,
  expect: { assertionSigned?: boolean; responseSigned?: boolean } = {},
): Saml2ResponseView {
  const assertionSigned = expect.assertionSigned ?? true;
  const responseSigned = expect.responseSigned ?? false;
  if (!assertionSigned && !responseSigned) throw new Error('nothing would be verified');
  const doc = parseStrict(xml);
  const root = doc.documentElement as XElement;
  if (root.namespaceURI !== SAMLP_NS || root.localName !== 'Response')
    throw new Error('root is not samlp:Response');
  const assertions = Array.from(doc.getElementsByTagNameNS(SAML2_NS, 'Assertion'));
  const [assertion] = assertions;
  if (assertions.length !== 1 || assertion === undefined)
    throw new Error(`expected exactly one saml:Assertion, found ${assertions.length}`);
  if (assertion.parentNode !== root)
    throw new Error('saml:Assertion must be a child of the Response');
  if (doc.getElementsByTagNameNS(SAML2_NS, 'EncryptedAssertion').length !== 0)
    throw new Error('unexpected EncryptedAssertion');
  const signatures = doc.getElementsByTagNameNS(DSIG_NS, 'Signature').length;
  if (signatures !== Number(assertionSigned) + Number(responseSigned))
    throw new Error(`unexpected number of ds:Signature elements: ${signatures}`);

  let response = root;
  let signedResponseXml: string | null = null;
  if (responseSigned) {
    signedResponseXml = checkWithXmlCrypto(xml, signatureAfterIssuer(root), root, 'ID', certPem);
    response = parseStrict(signedResponseXml).documentElement;
    if (response.getAttribute('ID') !== root.getAttribute('ID'))
      throw new Error('signed reference is not the Response');
  } else if (childElements(root, DSIG_NS, 'Signature').length !== 0) {
    throw new Error('unexpected Response signature');
  }

  let claims: Saml2AssertionClaims;
  if (assertionSigned) {
    claims = verifiedAssertion(xml, assertion, certPem);
  } else {
    // Covered by the Response signature only: read it from the verified Response bytes.
    const inSigned = only(response, SAML2_NS, 'Assertion');
    if (childElements(inSigned, DSIG_NS, 'Signature').length !== 0)
      throw new Error('unexpected assertion signature');
    claims = { ...readSaml2Assertion(inSigned), signedXml: excC14n(inSigned) };
  }

  if (response.getAttribute('Version') !== '2.0') throw new Error('not a SAML 2.0 Response');
  const [issuer] = childElements(response);
  if (issuer?.namespaceURI !== SAML2_NS || issuer.localName !== 'Issuer')
    throw new Error('the Response must start with saml:Issuer');
  const statusCode = only(only(response, SAMLP_NS, 'Status'), SAMLP_NS, 'StatusCode');
  return {
    responseId: presentAttr(response, 'ID'),
    issuer: textOnly(issuer),
    issueInstant: presentAttr(response, 'IssueInstant'),
    destination: optionalAttr(response, 'Destination'),
    inResponseTo: optionalAttr(response, 'InResponseTo'),
    consent: optionalAttr(response, 'Consent'),
    statusCode: presentAttr(statusCode, 'Value'),
    signedResponseXml,
    assertion: claims,
  };
}

/** Reads a SAML 2.0 assertion element (call it only on verified bytes). */
function readSaml2Assertion(a: XElement): Omit<Saml2AssertionClaims, 'signedXml'> {
  if (a.namespaceURI !== SAML2_NS || a.localName !== 'Assertion')
    throw new Error('signed element is not a SAML 2.0 saml:Assertion');
  if (a.getAttribute('Version') !== '2.0') throw new Error('not SAML 2.0');
  // SAML Core §2.3.3 sequence, as the signed bytes must have it (the Signature already removed).
  const order = childElements(a)
    .map((e) =>
      e.namespaceURI === SAML2_NS ? e.localName : `{${e.namespaceURI ?? ''}}${e.localName}`,
    )
    .join(',');
  if (!/^Issuer,Subject,Conditions,(AttributeStatement,)?AuthnStatement$/.test(order))
    throw new Error(`unexpected assertion content: ${order}`);

  const subject = only(a, SAML2_NS, 'Subject');
  // SAML Core §2.4.1: the identifier is optional (a Subject of SubjectConfirmation only); at most one, first.
  const nameIds = childElements(subject, SAML2_NS, 'NameID');
  if (nameIds.length > 1) throw new Error('more than one NameID');
  const [nameId] = nameIds;
  if (nameId !== undefined && childElements(subject)[0] !== nameId)
    throw new Error('NameID is not the first child of Subject');
  const confirmation = only(subject, SAML2_NS, 'SubjectConfirmation');
  if (confirmation.getAttribute('Method') !== CM_BEARER_2)
    throw new Error(`confirmation method ${confirmation.getAttribute('Method')}`);
  const data = only(confirmation, SAML2_NS, 'SubjectConfirmationData');
  // SAML Profiles §4.1.4.2: bearer SubjectConfirmationData has no NotBefore.
  if (data.hasAttribute('NotBefore')) throw new Error('bearer confirmation with NotBefore');

  const conditions = only(a, SAML2_NS, 'Conditions');
  const audiences = childElements(conditions, SAML2_NS, 'AudienceRestriction').flatMap((c) =>
    childElements(c, SAML2_NS, 'Audience'),
  );
  const [audience] = audiences;
  if (audiences.length !== 1 || audience === undefined)
    throw new Error(`expected exactly one Audience, found ${audiences.length}`);

  const attributes: Saml2AttributeView[] = [];
  for (const stmt of childElements(a, SAML2_NS, 'AttributeStatement')) {
    if (childElements(stmt).length !== childElements(stmt, SAML2_NS, 'Attribute').length)
      throw new Error('AttributeStatement holds something other than saml:Attribute');
    for (const attr of childElements(stmt, SAML2_NS, 'Attribute')) {
      const values = childElements(attr, SAML2_NS, 'AttributeValue');
      if (values.length !== childElements(attr).length)
        throw new Error('saml:Attribute holds something other than saml:AttributeValue');
      attributes.push({
        name: presentAttr(attr, 'Name'),
        nameFormat: optionalAttr(attr, 'NameFormat'),
        friendlyName: optionalAttr(attr, 'FriendlyName'),
        values: values.map(textOnly),
      });
    }
  }

  const authn = only(a, SAML2_NS, 'AuthnStatement');
  const classRef = only(only(authn, SAML2_NS, 'AuthnContext'), SAML2_NS, 'AuthnContextClassRef');
  return {
    assertionId: presentAttr(a, 'ID'),
    issuer: textOnly(only(a, SAML2_NS, 'Issuer')),
    issueInstant: presentAttr(a, 'IssueInstant'),
    nameId: nameId === undefined ? null : textOnly(nameId),
    nameIdFormat: nameId === undefined ? null : optionalAttr(nameId, 'Format'),
    recipient: presentAttr(data, 'Recipient'),
    subjectNotOnOrAfter: presentAttr(data, 'NotOnOrAfter'),
    subjectInResponseTo: optionalAttr(data, 'InResponseTo'),
    notBefore: presentAttr(conditions, 'NotBefore'),
    notOnOrAfter: presentAttr(conditions, 'NotOnOrAfter'),
    audience: textOnly(audience),
    attributes,
    authnInstant: presentAttr(authn, 'AuthnInstant'),
    sessionIndex: optionalAttr(authn, 'SessionIndex'),
    authnContextClassRef: textOnly(classRef),
  };
}

/** XPaths for `verifyWithXmlsec1`'s `nodeXPath`: which of a SAML 2.0 document's signatures to check. */
export const XMLSEC1_SAML2_SIGNATURE = {
  /** The assertion's signature, bare or as a child of the Response. */
  assertion:
    `(/*[local-name()='Assertion' and namespace-uri()='${SAML2_NS}'] | ` +
    `/*[local-name()='Response' and namespace-uri()='${SAMLP_NS}']/*[local-name()='Assertion' and namespace-uri()='${SAML2_NS}'])` +
    `/*[local-name()='Signature' and namespace-uri()='${DSIG_NS}']`,
  /** The Response's own signature. */
  response:
    `/*[local-name()='Response' and namespace-uri()='${SAMLP_NS}']` +
    `/*[local-name()='Signature' and namespace-uri()='${DSIG_NS}']`,
} as const;

/** xmlsec1 on one signature of a SAML 2.0 Response or bare assertion (both ID attributes registered). */
export function verifySaml2WithXmlsec1(
  xml: string,
  certPem: string,
  which: keyof typeof XMLSEC1_SAML2_SIGNATURE,
): { ok: boolean; output: string } {
  return verifyWithXmlsec1(xml, certPem, [SAML2_ASSERTION_ID_ATTR, SAML2_RESPONSE_ID_ATTR], {
    nodeXPath: XMLSEC1_SAML2_SIGNATURE[which],
  });
}

// ---------------------------------------------------------------------------------------------------------
// node-saml as the service provider

export interface NodeSamlSp {
  /** The IdP certificate the SP pins (`idpCert`). */
  certPem: string;
  /** The SP's entity ID: node-saml's `issuer` and the expected `audience`. */
  entityId: string;
  /**
   * The ACS URL (`callbackUrl`). node-saml 5.1.0 does not compare it with Destination or Recipient: check
   * those with verifySaml2ResponseWithXmlCrypto.
   */
  callbackUrl: string;
  /**
   * The IdP entity ID (`idpIssuer`). node-saml 5.1.0 checks it on logout messages only, not on login
   * Responses: compare `profile.issuer` yourself.
   */
  idpIssuer: string;
  wantAuthnResponseSigned: boolean;
  /**
   * AuthnRequest IDs the SP has outstanding. Given: `validateInResponseTo: always` against a cache that
   * knows exactly these (each consumed on use); absent: `never`.
   */
  outstandingRequestIds?: readonly string[];
}

/**
 * @node-saml/node-saml 5.1.0's `SAML` class as an SP (`wantAssertionsSigned: true`), validating the
 * HTTP-POST `SAMLResponse` (base64). Returns the profile; throws what node-saml throws. node-saml takes
 * "now" from `Date` with no injection point: tests freeze it with `mock.timers` (apis: ['Date']).
 */
export async function validateWithNodeSaml(samlResponse: string, sp: NodeSamlSp): Promise<Profile> {
  const outstanding = new Set(sp.outstandingRequestIds ?? []);
  const cacheProvider: CacheProvider = {
    saveAsync: (key, value) => {
      outstanding.add(key);
      return Promise.resolve({ value, createdAt: Date.now() });
    },
    // node-saml reads the value as the request's creation time.
    getAsync: (key) => Promise.resolve(outstanding.has(key) ? new Date().toISOString() : null),
    removeAsync: (key) => {
      if (key === null || !outstanding.delete(key)) return Promise.resolve(null);
      return Promise.resolve(key);
    },
  };
  const saml = new SAML({
    idpCert: sp.certPem,
    issuer: sp.entityId,
    audience: sp.entityId,
    callbackUrl: sp.callbackUrl,
    idpIssuer: sp.idpIssuer,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: sp.wantAuthnResponseSigned,
    validateInResponseTo:
      sp.outstandingRequestIds === undefined
        ? ValidateInResponseTo.never
        : ValidateInResponseTo.always,
    cacheProvider,
    acceptedClockSkewMs: 0,
  });
  const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: samlResponse });
  if (profile === null) throw new Error('node-saml returned no profile');
  return profile;
}
