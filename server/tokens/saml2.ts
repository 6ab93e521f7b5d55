/**
 * The SAML 2.0 assertion and Response writer and signer (Web Browser SSO profile, HTTP-POST binding; the
 * SP-Lite shape Microsoft Entra ID expects, entra-protocol §2; SAML Core §2.3.3, §3.3.3; SAML Profiles
 * §4.1.4.2).
 *
 * Same design as saml11.ts, for the same reason (issuance near the bare RSA rate): every element is written
 * by concatenation *already in exclusive canonical form* (Exc-C14N 1.0, C14N 1.0 §2.2/§2.3) and those bytes
 * are digested directly; no DOM, no generic canonicalizer. saml11.ts explains the canonical-form rules.
 * What differs in SAML 2.0:
 *  - the `ds:Signature` is the element right after `saml:Issuer` (SAML Core schema order: Issuer, Signature,
 *    Subject, …), so it is spliced in between the Issuer and the rest, again without whitespace, which is
 *    exactly what the verifier's enveloped-signature transform removes again;
 *  - the ID attribute is `ID`, attributes sort as ID < IssueInstant < Version (and Consent < Destination
 *    < ID < InResponseTo < IssueInstant < Version on the Response).
 *
 * Embedding. The Response is concatenated around the signed assertion bytes, inserted verbatim. The Response
 * declares `xmlns:samlp` on itself and `xmlns:saml` on its own `saml:Issuer` (as AD FS does), not on the
 * root, and the assertion carries its own `xmlns:saml`. Consequences, both checked against xml-crypto in
 * tests/unit/tokens/saml2.test.ts:
 *  - the assertion's canonical form is the same bare or embedded: exc-c14n of the assertion subset renders
 *    `xmlns:saml` on saml:Assertion either way (no *output* ancestor declares it, Exc-C14N §3);
 *  - the whole Response as written is itself in canonical form (no output ancestor of the Assertion declares
 *    `saml`, so its declaration is not superfluous), so signing the Response digests the concatenated bytes
 *    as they stand. Had the root declared `xmlns:saml`, exc-c14n of the Response would drop the
 *    assertion's declaration and the Response digest would have to be taken over different bytes.
 * The Response signature (optional) is a child of the Response right after its Issuer; its Reference covers
 * the whole Response including the already-signed assertion. The verifier's enveloped-signature transform
 * removes only the signature being verified (XMLDSig §6.6.4), so the assertion's own signature stays in
 * the Response digest, and the Response signature is outside the assertion, so it never touches that one.
 *
 * Wire vs canonical bytes: U+0085/U+2028/U+2029 are written as character references on the wire
 * (protectXml11LineEnds in xmldsig.ts); digests are over the canonical form, where they are literal.
 */
import { escapeAttr, escapeText, isXmlSafe } from '../lib/xml-escape.ts';
import { issuanceFailed } from '../lib/errors.ts';
import type { SigningCredential } from '../keys/types.ts';
import { createEnvelopedSigner, isSafeXmlId, protectXml11LineEnds } from './xmldsig.ts';
import type { EnvelopedSigner } from './xmldsig.ts';
import { encryptSaml2Assertion, type AssertionEncryption } from './saml2-encryption.ts';
import type { Saml2AssertionModel, Saml2ResponseModel } from './types.ts';

export const SAML2_ASSERTION_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const SAML2_PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
/** SAML Profiles §3.3: the bearer confirmation method. */
export const SAML2_CM_BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
export const SAML2_STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
/** The only NameID format Entra supports for SAML 2.0 federation (entra-protocol §2). */
export const NAMEID_FORMAT_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
export const AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT =
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
export const CONSENT_UNSPECIFIED = 'urn:oasis:names:tc:SAML:2.0:consent:unspecified';
export const ATTRNAME_FORMAT_URI = 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri';
export const ATTRNAME_FORMAT_BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';

const ASSERTION_OPEN = `<saml:Assertion xmlns:saml="${SAML2_ASSERTION_NS}" ID="`;
const ASSERTION_CLOSE = '</saml:Assertion>';
const RESPONSE_OPEN = `<samlp:Response xmlns:samlp="${SAML2_PROTOCOL_NS}"`;
const RESPONSE_ISSUER_OPEN = `<saml:Issuer xmlns:saml="${SAML2_ASSERTION_NS}">`;
const STATUS_SUCCESS =
  `<samlp:Status><samlp:StatusCode Value="${SAML2_STATUS_SUCCESS}"></samlp:StatusCode>` +
  '</samlp:Status>';
const RESPONSE_CLOSE = '</samlp:Response>';

export interface Saml2SignOptions {
  /** Sign the assertion (default true). Entra requires it (WantAssertionsSigned="true"). */
  signAssertion?: boolean | undefined;
  /** Also sign the whole Response (default false). */
  signResponse?: boolean | undefined;
}

/** Signing options plus assertion encryption. */
export interface Saml2ResponseOptions extends Saml2SignOptions {
  /**
   * Encrypt the (already signed) assertion for the SP (SAML Core §2.3.4, §6.2): the Response carries a
   * saml:EncryptedAssertion instead; a Response signature then covers the EncryptedAssertion.
   */
  encryptAssertion?: AssertionEncryption | undefined;
}

export interface Saml2Signer {
  /** The signed assertion as it goes on the wire. */
  signAssertion(model: Saml2AssertionModel): string;
  /** The `samlp:Response` as it goes on the wire (base64 it for the HTTP-POST binding). */
  signResponse(model: Saml2ResponseModel, opts?: Saml2ResponseOptions): string;
}

/** Prepares a signer for one credential: the key, certificate and constant fragments are reused per token. */
export function createSaml2Signer(cred: SigningCredential): Saml2Signer {
  const signer: EnvelopedSigner = createEnvelopedSigner(cred);

  /** The signed assertion in canonical form (literal U+2028 etc.): what a Response digest covers. */
  const signedAssertion = (m: Saml2AssertionModel): string => {
    const [head, body] = assertionParts(m);
    return head + signer.signatureFor(m.assertionId, head + body) + body;
  };

  return {
    signAssertion(model) {
      return protectXml11LineEnds(signedAssertion(model));
    },
    signResponse(model, opts = {}) {
      const signAssertion = opts.signAssertion ?? true;
      const signResponse = opts.signResponse ?? false;
      // An unsigned Response with an unsigned assertion is a forgeable token: never issue one.
      if (!signAssertion && !signResponse)
        invalid('response', 'options', 'sign neither the assertion nor the response');
      let assertion = signAssertion
        ? signedAssertion(model.assertion)
        : assertionParts(model.assertion).join('');
      // Sign, then encrypt the wire form; the EncryptedAssertion is canonical as written (base64 and URIs).
      if (opts.encryptAssertion !== undefined)
        assertion = encryptSaml2Assertion(protectXml11LineEnds(assertion), opts.encryptAssertion);
      const [head, body] = responseParts(model, assertion);
      const signed = signResponse
        ? head + signer.signatureFor(model.responseId, head + body) + body
        : head + body;
      return protectXml11LineEnds(signed);
    },
  };
}

const signers = new WeakMap<SigningCredential, Saml2Signer>();

function signerFor(cred: SigningCredential): Saml2Signer {
  let signer = signers.get(cred);
  if (signer === undefined) {
    signer = createSaml2Signer(cred);
    signers.set(cred, signer);
  }
  return signer;
}

/** Writes and signs one bare assertion. Reuses a prepared signer per credential object. */
export function writeSignedSaml2Assertion(
  model: Saml2AssertionModel,
  cred: SigningCredential,
): string {
  return signerFor(cred).signAssertion(model);
}

/**
 * Writes a `samlp:Response` around a signed assertion (and signs the Response too with
 * `signResponse: true`). Reuses a prepared signer per credential object.
 */
export function writeSignedSaml2Response(
  model: Saml2ResponseModel,
  cred: SigningCredential,
  opts?: Saml2ResponseOptions,
): string {
  return signerFor(cred).signResponse(model, opts);
}

/**
 * The assertion without a Signature, in exclusive canonical form: exactly the octets its Reference digests.
 * Throws (never emits broken XML) when a value cannot be carried by XML 1.0.
 */
export function writeCanonicalSaml2Assertion(m: Saml2AssertionModel): string {
  return assertionParts(m).join('');
}

/** [everything up to and including saml:Issuer, the rest]: the signature goes between the two. */
function assertionParts(m: Saml2AssertionModel): [string, string] {
  const A = 'assertion';
  if (!isSafeXmlId(m.assertionId)) invalid(A, 'assertionId', 'is not an NCName (use "_" + uuid)');
  if (m.notOnOrAfter.getTime() <= m.notBefore.getTime())
    invalid(A, 'notOnOrAfter', 'is not after notBefore');
  const sc = m.subjectConfirmation;

  const head =
    ASSERTION_OPEN +
    m.assertionId +
    '" IssueInstant="' +
    time(m.issueInstant, A, 'issueInstant') +
    '" Version="2.0"><saml:Issuer>' +
    escapeText(text(m.issuer, A, 'issuer', true)) +
    '</saml:Issuer>';

  // SAML Core §2.4.1.2 attribute order after sorting: InResponseTo < NotOnOrAfter < Recipient.
  let body =
    '<saml:Subject>' +
    (m.nameId === undefined
      ? ''
      : '<saml:NameID Format="' +
        escapeAttr(text(m.nameId.format, A, 'nameId.format', true)) +
        '">' +
        escapeText(text(m.nameId.value, A, 'nameId', true)) +
        '</saml:NameID>') +
    `<saml:SubjectConfirmation Method="${SAML2_CM_BEARER}"><saml:SubjectConfirmationData`;
  if (sc.inResponseTo !== undefined)
    body +=
      ' InResponseTo="' +
      escapeAttr(text(sc.inResponseTo, A, 'subjectConfirmation.inResponseTo', true)) +
      '"';
  body +=
    ' NotOnOrAfter="' +
    time(sc.notOnOrAfter, A, 'subjectConfirmation.notOnOrAfter') +
    '" Recipient="' +
    escapeAttr(text(sc.recipient, A, 'subjectConfirmation.recipient', true)) +
    '"></saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject>' +
    '<saml:Conditions NotBefore="' +
    time(m.notBefore, A, 'notBefore') +
    '" NotOnOrAfter="' +
    time(m.notOnOrAfter, A, 'notOnOrAfter') +
    '"><saml:AudienceRestriction><saml:Audience>' +
    escapeText(text(m.audience, A, 'audience', true)) +
    '</saml:Audience></saml:AudienceRestriction></saml:Conditions>';

  // An attribute without values is left out (the brief: one or more AttributeValue each, as in SAML 1.1);
  // a statement without attributes is omitted (SAML Core §2.7.3: at least one Attribute).
  let attributes = '';
  for (const a of m.attributes) {
    if (a.values.length === 0) continue;
    const name = text(a.name, A, 'attribute name', true);
    // Sorted: FriendlyName < Name < NameFormat.
    attributes += '<saml:Attribute';
    if (a.friendlyName !== undefined)
      attributes +=
        ' FriendlyName="' +
        escapeAttr(text(a.friendlyName, A, 'attribute friendlyName', false)) +
        '"';
    attributes += ' Name="' + escapeAttr(name) + '"';
    if (a.nameFormat !== undefined)
      attributes +=
        ' NameFormat="' + escapeAttr(text(a.nameFormat, A, 'attribute nameFormat', true)) + '"';
    attributes += '>';
    for (const v of a.values) {
      if (!isXmlSafe(v)) invalid(A, `a value of attribute ${name}`, UNSAFE);
      attributes += '<saml:AttributeValue>' + escapeText(v) + '</saml:AttributeValue>';
    }
    attributes += '</saml:Attribute>';
  }
  if (attributes !== '')
    body += '<saml:AttributeStatement>' + attributes + '</saml:AttributeStatement>';

  body += '<saml:AuthnStatement AuthnInstant="' + time(m.authn.instant, A, 'authn.instant') + '"';
  if (m.authn.sessionIndex !== undefined)
    body +=
      ' SessionIndex="' +
      escapeAttr(text(m.authn.sessionIndex, A, 'authn.sessionIndex', true)) +
      '"';
  body +=
    '><saml:AuthnContext><saml:AuthnContextClassRef>' +
    escapeText(text(m.authn.contextClassRef, A, 'authn.contextClassRef', true)) +
    '</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>' +
    ASSERTION_CLOSE;
  return [head, body];
}

/** [Response start tag + Issuer, Status + assertion + end tag]; `assertion` is inserted verbatim. */
function responseParts(m: Saml2ResponseModel, assertion: string): [string, string] {
  const R = 'response';
  if (!isSafeXmlId(m.responseId)) invalid(R, 'responseId', 'is not an NCName (use "_" + uuid)');
  if (m.responseId === m.assertion.assertionId)
    invalid(R, 'responseId', 'equals the assertion ID (IDs must be unique in the document)');
  // SAML Profiles §4.1.4.2: Destination and Recipient both name the ACS the Response is delivered to, and
  // InResponseTo appears on both or neither. One source of truth is the assertion; a mismatch is a bug.
  if (m.destination !== m.assertion.subjectConfirmation.recipient)
    invalid(R, 'destination', 'differs from the assertion Recipient');
  if (m.inResponseTo !== m.assertion.subjectConfirmation.inResponseTo)
    invalid(R, 'inResponseTo', 'differs from the assertion SubjectConfirmationData InResponseTo');

  // Sorted: Consent < Destination < ID < InResponseTo < IssueInstant < Version.
  let head = RESPONSE_OPEN;
  if (m.consent !== undefined)
    head += ' Consent="' + escapeAttr(text(m.consent, R, 'consent', true)) + '"';
  head +=
    ' Destination="' +
    escapeAttr(text(m.destination, R, 'destination', true)) +
    '" ID="' +
    m.responseId;
  if (m.inResponseTo !== undefined)
    head += '" InResponseTo="' + escapeAttr(text(m.inResponseTo, R, 'inResponseTo', true));
  head +=
    '" IssueInstant="' +
    time(m.issueInstant, R, 'issueInstant') +
    '" Version="2.0">' +
    RESPONSE_ISSUER_OPEN +
    // Validated by the assertion writer already; same entity (SAML Profiles §4.1.4.2).
    escapeText(m.assertion.issuer) +
    '</saml:Issuer>';
  return [head, STATUS_SUCCESS + assertion + RESPONSE_CLOSE];
}

const UNSAFE =
  'contains characters XML 1.0 cannot carry (control characters, U+FFFE/U+FFFF or unpaired surrogates)';

function text(s: string, what: string, field: string, required: boolean): string {
  if (required && s.length === 0) invalid(what, field, 'is empty');
  if (!isXmlSafe(s)) invalid(what, field, UNSAFE);
  return s;
}

function time(d: Date, what: string, field: string): string {
  const ms = d.getTime();
  // xs:dateTime with a four-digit year; toISOString() writes ±YYYYYY outside 0000–9999.
  if (Number.isNaN(ms) || d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999)
    invalid(what, field, 'is not a valid date');
  return d.toISOString();
}

function invalid(what: string, field: string, why: string): never {
  // The detail names the field only: values may be personal data and go no further than this exception.
  throw issuanceFailed(`SAML 2.0 ${what}: ${field} ${why}`);
}
