/**
 * Enveloped XML signatures over content fedgate wrote itself in canonical form.
 *
 * Profile (entra-protocol §1.5, what AD FS emits and Entra accepts): one Reference to `#<id>`, transforms
 * enveloped-signature then exc-c14n (XMLDSig §6.6.4, Exclusive XML Canonicalization 1.0), SHA-256 digest,
 * RSA-SHA256 (RFC 4051 §2.3.2, RSASSA-PKCS1-v1_5), KeyInfo/X509Data/X509Certificate with the signing
 * certificate. Nothing here parses XML: the caller hands over the exact canonical bytes of the referenced
 * element *without* its Signature, which is precisely what the enveloped-signature + exc-c14n transforms
 * yield on the verifier's side when the Signature is spliced in without surrounding whitespace.
 */
import { createHash } from 'node:crypto';
import type { SigningCredential } from '../keys/types.ts';

export const XMLDSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
export const ALG_EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
export const ALG_ENVELOPED_SIGNATURE = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
export const ALG_RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
export const ALG_SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';

/*
 * SignedInfo in exc-c14n form. Exclusive c14n of the SignedInfo subset (XMLDSig §3.2.1.1 step 1) renders
 * `xmlns:ds` on ds:SignedInfo itself, because ds is visibly utilized there and no output ancestor declares
 * it (Exc-C14N §3 "visibly utilized"); empty elements are written as start/end pairs (C14N 1.0 §2.3).
 * Inside the document the declaration lives on ds:Signature instead, so the two forms differ only in
 * SignedInfo's start tag.
 */
const SI_OPEN_CANONICAL = `<ds:SignedInfo xmlns:ds="${XMLDSIG_NS}">`;
const SI_OPEN_EMBEDDED = '<ds:SignedInfo>';
const SI_BODY_1 =
  `<ds:CanonicalizationMethod Algorithm="${ALG_EXC_C14N}"></ds:CanonicalizationMethod>` +
  `<ds:SignatureMethod Algorithm="${ALG_RSA_SHA256}"></ds:SignatureMethod>` +
  '<ds:Reference URI="#';
const SI_BODY_2 =
  '"><ds:Transforms>' +
  `<ds:Transform Algorithm="${ALG_ENVELOPED_SIGNATURE}"></ds:Transform>` +
  `<ds:Transform Algorithm="${ALG_EXC_C14N}"></ds:Transform>` +
  '</ds:Transforms>' +
  `<ds:DigestMethod Algorithm="${ALG_SHA256}"></ds:DigestMethod>` +
  '<ds:DigestValue>';
const SI_BODY_3 = '</ds:DigestValue></ds:Reference></ds:SignedInfo>';

const XML11_LINE_ENDS = /[\u0085\u2028\u2029]/;
const XML11_LINE_ENDS_ALL = /[\u0085\u2028\u2029]/g;

/**
 * Writes U+0085, U+2028 and U+2029 as character references. @xmldom/xmldom (the parser under xml-crypto and
 * the Node SAML libraries built on it) applies XML 1.1 line-end normalisation to XML 1.0 input, turning these
 * literal characters into LF before canonicalising, so every Node verifier would compute another digest
 * than a conformant XML 1.0 parser (.NET, libxml2/xmlsec1). A character reference is not subject to line-end
 * handling (XML 1.0 §2.11, §4.1) and exc-c14n writes the character itself (C14N 1.0 §2.3), so every
 * verifier canonicalises back to the same bytes. Only the wire form is changed; digest the canonical form.
 */
export function protectXml11LineEnds(xml: string): string {
  return XML11_LINE_ENDS.test(xml) ? xml.replace(XML11_LINE_ENDS_ALL, charRef) : xml;
}

function charRef(c: string): string {
  return `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`;
}

/** Characters an NCName-based ID may use; IDs are also spliced into `URI="#…"` without escaping. */
const ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function isSafeXmlId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** A signing key with its constant signature fragments precomputed. Build once per credential. */
export interface EnvelopedSigner {
  readonly certificateBase64: string;
  /**
   * Returns the complete `<ds:Signature>` element for a Reference to `#referenceId` over `canonical`
   * (the exc-c14n bytes of the referenced element without the signature).
   */
  signatureFor(referenceId: string, canonical: string): string;
}

export function createEnvelopedSigner(
  cred: Pick<SigningCredential, 'signSha256' | 'certificateBase64'>,
): EnvelopedSigner {
  if (!/^[A-Za-z0-9+/]+=*$/.test(cred.certificateBase64)) {
    throw new TypeError('certificateBase64 must be plain base64 without line breaks');
  }
  // Everything after SignatureValue is constant for this credential.
  const tail =
    '</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>' +
    cred.certificateBase64 +
    '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>';
  const head = `<ds:Signature xmlns:ds="${XMLDSIG_NS}">${SI_OPEN_EMBEDDED}`;

  return {
    certificateBase64: cred.certificateBase64,
    signatureFor(referenceId, canonical) {
      if (!ID_PATTERN.test(referenceId)) throw new TypeError('reference id is not an NCName');
      const digest = createHash('sha256').update(canonical, 'utf8').digest('base64');
      const body = SI_BODY_1 + referenceId + SI_BODY_2 + digest + SI_BODY_3;
      // XMLDSig §3.1.2: the SignatureValue is computed over the canonical form of SignedInfo.
      // The key may be in an HSM: only its signing operation is used, never the key itself.
      const value = cred
        .signSha256(Buffer.from(SI_OPEN_CANONICAL + body, 'utf8'))
        .toString('base64');
      return head + body + '<ds:SignatureValue>' + value + tail;
    },
  };
}
