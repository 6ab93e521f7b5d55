/**
 * Size and shape limits for every kind of XML fedgate reads from outside (issue 14 §1; corpus A16, B1.4, B1.5,
 * B1.7), in one place so that the parse-cost benchmark (bench/parse-cost.ts) measures exactly what is admitted.
 * Each limit is the size of what real clients send, with generous headroom, and low enough that the worst
 * document it admits costs a few milliseconds of parsing (figures: `npm run bench`, "worst-case parse cost").
 */
import type { XmlShapeLimits } from './xml-tag-balance.ts';

export interface XmlKindLimits extends XmlShapeLimits {
  /** Characters of XML after base64 and DEFLATE decoding. */
  maxLength: number;
}

/**
 * SAML protocol messages (AuthnRequest, LogoutRequest, LogoutResponse) on either binding. Entra ID's
 * AuthnRequest is under 2 KB; an SP's signed AuthnRequest carrying a 4096-bit certificate in KeyInfo is 4–6 KB,
 * about 25 elements and 40 attributes; the largest seen from SP software (Shibboleth with Extensions,
 * RequestedAuthnContext, Scoping) stays under 16 KB. 32 KiB is twice that; 128 elements and 384 attributes are
 * five and ten times a signed request's. Depth: a signed
 * AuthnRequest nests 7 deep (Signature/SignedInfo/Reference/Transforms/Transform/InclusiveNamespaces); 32 leaves
 * room for Extensions. Elements and attributes are bounded well below what 32 KiB could hold because they, not
 * bytes, drive the cost of the signature check a known SP's message triggers (xml-crypto canonicalizes the whole
 * message): at 2,000 elements that check alone took about 100 ms, at 256 about 30 ms (bench/parse-cost.ts).
 */
export const SAML_MESSAGE_LIMITS: XmlKindLimits = {
  maxLength: 32 * 1024,
  maxDepth: 32,
  maxElements: 128,
  maxAttributes: 32,
  maxTotalAttributes: 384,
};

/**
 * Partner (SP) metadata: fedgate imports one entity per trust, never an aggregate. The largest single-entity
 * document we know, AD FS 2016 federation metadata with both roles, every offered claim type and three
 * certificates, is 70 KB, 535 elements, 707 attributes, depth 9 (tests/fixtures/real-world/
 * adfs2016-federationmetadata.xml); a Shibboleth or Entra SP's is 5–25 KB. The limits are 1.5 to 2 times that
 * document (128 KiB, 800 elements, 1,600 attributes; 32 on one element, where the real
 * documents have at most 19, the namespace declarations of a MEX root): multi-megabyte federation aggregates are refused, as they
 * should be (they are not one trust). Metadata is partner-controlled text (a URL the admin configured, refreshed
 * in the background on the event loop), so its worst admitted document, signature check included, is held to the
 * same per-parse budget as a request (bench/parse-cost.ts).
 */
export const METADATA_LIMITS: XmlKindLimits = {
  maxLength: 128 * 1024,
  maxDepth: 32,
  maxElements: 800,
  maxAttributes: 32,
  maxTotalAttributes: 1_600,
};

/**
 * WS-Trust RST inside its SOAP envelope. The body-size limit is `wstrust.maxRequestBytes` (default 64 KiB; an
 * MSAL/Office usernamemixed RST with its WS-Security header is 3–5 KB, about 30 elements and 40 attributes).
 * Depth: Envelope/Header/Security/UsernameToken/Password is 5; Body/RST/AppliesTo/EndpointReference/Address is 5.
 */
export const SOAP_LIMITS: XmlShapeLimits = {
  maxDepth: 24,
  maxElements: 1_000,
  maxAttributes: 32,
  maxTotalAttributes: 1_024,
};
