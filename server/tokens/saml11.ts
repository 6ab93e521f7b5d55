/**
 * The SAML 1.1 assertion writer and signer (WS-Federation tokens for Microsoft Entra ID, entra-protocol §1.5,
 * [MS-MWBF] §2.2.4.2 and §3.1.5.4.6).
 *
 * Why this is hand-written instead of building a DOM and signing it with xml-crypto's SignedXml:
 * issuance speed. A signed assertion costs one RSA-2048 signature (~0.3 ms on one core); the generic route
 * (parse → XPath lookup of the reference → generic exc-c14n walk → serialize) costs several times that:
 * measured on one core, ~550 tokens/s with SignedXml against ~3,500/s here, close to the bare RSA rate.
 * fedgate controls every byte of the assertion, so it writes the text
 * *already in exclusive canonical form* and digests those bytes directly:
 *  - namespace declarations only where exc-c14n renders them: `xmlns:saml` on saml:Assertion (the only
 *    place the prefix becomes visibly utilized without an output ancestor declaring it, Exc-C14N §3);
 *    `xmlns:ds` on ds:Signature, which the enveloped-signature transform removes before canonicalization;
 *  - attributes in canonical order: namespace declarations first, then attributes sorted by (namespace URI,
 *    local name); all of ours are unqualified, so by local name (C14N 1.0 §2.2 "Document Order");
 *  - empty elements as start/end pairs, no XML declaration, no whitespace between elements (C14N 1.0 §2.3);
 *  - text escaped as C14N escapes it (& < > CR), attribute values likewise (& < " TAB LF CR) — xml-escape.ts.
 * The Signature is spliced in as the last child of the Assertion with no surrounding whitespace, so the
 * verifier's enveloped-signature + exc-c14n transforms reproduce exactly the bytes digested here.
 * tests/unit/tokens verify this against xml-crypto's own exc-c14n over seeded random and hostile inputs,
 * and against xml-crypto SignedXml and xmlsec1.
 *
 * One deliberate difference between the wire bytes and the canonical bytes: U+0085, U+2028 and U+2029 are
 * written as character references (protectXml11LineEnds explains why); the digest covers the canonical
 * form, in which they are literal.
 */
import { escapeAttr, escapeText, isXmlSafe } from '../lib/xml-escape.ts';
import { issuanceFailed } from '../lib/errors.ts';
import type { SigningCredential } from '../keys/types.ts';
import { createEnvelopedSigner, isSafeXmlId, protectXml11LineEnds } from './xmldsig.ts';
import type { EnvelopedSigner } from './xmldsig.ts';
import type { Saml11AssertionModel } from './types.ts';

export const SAML11_ASSERTION_NS = 'urn:oasis:names:tc:SAML:1.0:assertion';
/** NameIdentifier Format AD FS uses for Entra (entra-protocol §1.5). */
export const NAMEID_FORMAT_UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
/** SAML 1.1 Core §2.4.2.3: the bearer confirmation method. */
export const CM_BEARER = 'urn:oasis:names:tc:SAML:1.0:cm:bearer';

const SUBJECT_CONFIRMATION =
  `<saml:SubjectConfirmation><saml:ConfirmationMethod>${CM_BEARER}</saml:ConfirmationMethod></saml:SubjectConfirmation>` +
  '</saml:Subject>';
const ASSERTION_CLOSE = '</saml:Assertion>';

export interface Saml11Signer {
  /** The signed assertion as it goes on the wire (and verbatim into the RSTR). */
  sign(model: Saml11AssertionModel): string;
}

/** Prepares a signer for one credential: the key, certificate and constant fragments are reused per token. */
export function createSaml11Signer(cred: SigningCredential): Saml11Signer {
  const signer: EnvelopedSigner = createEnvelopedSigner(cred);
  return {
    sign(model) {
      const canonical = writeCanonicalSaml11Assertion(model);
      const signature = signer.signatureFor(model.assertionId, canonical);
      // Signature = last child of saml:Assertion (entra-protocol §1.5; real AD FS token in [MSALPY]).
      const signed =
        canonical.slice(0, canonical.length - ASSERTION_CLOSE.length) + signature + ASSERTION_CLOSE;
      return protectXml11LineEnds(signed);
    },
  };
}

const signers = new WeakMap<SigningCredential, Saml11Signer>();

/** Writes and signs one assertion. Reuses a prepared signer per credential object. */
export function writeSignedSaml11Assertion(
  model: Saml11AssertionModel,
  cred: SigningCredential,
): string {
  let signer = signers.get(cred);
  if (signer === undefined) {
    signer = createSaml11Signer(cred);
    signers.set(cred, signer);
  }
  return signer.sign(model);
}

/**
 * The assertion without its Signature, in exclusive canonical form: exactly the octets the Reference
 * digests. Throws (never emits broken XML) when a value cannot be carried by XML 1.0.
 */
export function writeCanonicalSaml11Assertion(m: Saml11AssertionModel): string {
  if (!isSafeXmlId(m.assertionId)) invalid('assertionId', 'is not an NCName (use "_" + uuid)');
  const issuer = text(m.issuer, 'issuer', true);
  const audience = text(m.audience, 'audience', true);
  const nameIdentifier =
    m.nameIdentifier === undefined
      ? ''
      : '<saml:NameIdentifier Format="' +
        escapeAttr(
          text(m.nameIdentifier.format ?? NAMEID_FORMAT_UNSPECIFIED, 'nameIdentifier.format', true),
        ) +
        '">' +
        escapeText(text(m.nameIdentifier.value, 'nameIdentifier', true)) +
        '</saml:NameIdentifier>';
  const authMethod = text(m.authentication.method, 'authentication.method', true);
  const notBefore = time(m.notBefore, 'notBefore');
  const notOnOrAfter = time(m.notOnOrAfter, 'notOnOrAfter');
  if (m.notOnOrAfter.getTime() <= m.notBefore.getTime())
    invalid('notOnOrAfter', 'is not after notBefore');

  const subject = '<saml:Subject>' + nameIdentifier + SUBJECT_CONFIRMATION;

  let out =
    `<saml:Assertion xmlns:saml="${SAML11_ASSERTION_NS}" AssertionID="` +
    m.assertionId +
    '" IssueInstant="' +
    time(m.issueInstant, 'issueInstant') +
    '" Issuer="' +
    escapeAttr(issuer) +
    '" MajorVersion="1" MinorVersion="1"><saml:Conditions NotBefore="' +
    notBefore +
    '" NotOnOrAfter="' +
    notOnOrAfter +
    '"><saml:AudienceRestrictionCondition><saml:Audience>' +
    escapeText(audience) +
    '</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions>';

  // SAML 1.1 schema: saml:Attribute needs at least one AttributeValue, so an attribute without values is
  // not written; a statement without attributes is omitted (AuthenticationStatement always stays).
  let attributes = '';
  for (const a of m.attributes) {
    if (a.values.length === 0) continue;
    const name = text(a.name, 'attribute name', true);
    const ns = text(a.namespace, 'attribute namespace', false);
    attributes +=
      '<saml:Attribute AttributeName="' +
      escapeAttr(name) +
      '" AttributeNamespace="' +
      escapeAttr(ns) +
      '">';
    for (const v of a.values) {
      if (!isXmlSafe(v)) invalid(`a value of attribute ${ns}/${name}`, UNSAFE);
      attributes += '<saml:AttributeValue>' + escapeText(v) + '</saml:AttributeValue>';
    }
    attributes += '</saml:Attribute>';
  }
  if (attributes !== '')
    out += '<saml:AttributeStatement>' + subject + attributes + '</saml:AttributeStatement>';

  out +=
    '<saml:AuthenticationStatement AuthenticationInstant="' +
    time(m.authentication.instant, 'authentication.instant') +
    '" AuthenticationMethod="' +
    escapeAttr(authMethod) +
    '">' +
    subject +
    '</saml:AuthenticationStatement>' +
    ASSERTION_CLOSE;
  return out;
}

const UNSAFE =
  'contains characters XML 1.0 cannot carry (control characters, U+FFFE/U+FFFF or unpaired surrogates)';

function text(s: string, field: string, required: boolean): string {
  if (required && s.length === 0) invalid(field, 'is empty');
  if (!isXmlSafe(s)) invalid(field, UNSAFE);
  return s;
}

function time(d: Date, field: string): string {
  const ms = d.getTime();
  // xs:dateTime with a four-digit year; toISOString() writes ±YYYYYY outside 0000–9999.
  if (Number.isNaN(ms) || d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999)
    invalid(field, 'is not a valid date');
  return d.toISOString();
}

function invalid(field: string, why: string): never {
  // The detail names the field only: values may be personal data and go no further than this exception.
  throw issuanceFailed(`SAML 1.1 assertion: ${field} ${why}`);
}
