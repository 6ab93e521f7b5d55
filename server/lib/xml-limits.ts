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
 * AuthnRequest is under 1 KB; a signed AuthnRequest carrying its certificate in KeyInfo is 4–6 KB; the largest
 * seen from SP software (Shibboleth with Extensions, RequestedAuthnContext, scoping) stays under 16 KB. 64 KiB is
 * four times that. Depth: a signed AuthnRequest nests 7 deep (Signature/SignedInfo/Reference/Transforms/
 * Transform/InclusiveNamespaces); 32 leaves room for Extensions. Elements: a few dozen in practice.
 */
export const SAML_MESSAGE_LIMITS: XmlKindLimits = {
  maxLength: 64 * 1024,
  maxDepth: 32,
  maxElements: 2_000,
  maxAttributes: 64,
};

/**
 * Partner (SP) metadata: fedgate imports one entity per trust. Real AD FS 2016 federation metadata, with both
 * roles, all claim types offered and three certificates, is 70 KB and 535 elements
 * (tests/fixtures/real-world/adfs2016-federationmetadata.xml); a Shibboleth SP's is 5–15 KB. 512 KiB is seven
 * times the largest and refuses multi-megabyte aggregates, which fedgate does not import (one entity per
 * trust). Metadata comes from a file or URL the admin configured, refreshed in the background.
 */
export const METADATA_LIMITS: XmlKindLimits = {
  maxLength: 512 * 1024,
  maxDepth: 32,
  maxElements: 10_000,
  maxAttributes: 64,
};

/**
 * WS-Trust RST inside its SOAP envelope. The body-size limit is `wstrust.maxRequestBytes` (default 64 KiB; an
 * MSAL/Office usernamemixed RST with its WS-Security header is 3–5 KB). Depth: Envelope/Header/Security/
 * UsernameToken/Password is 5; Body/RST/AppliesTo/EndpointReference/Address is 5.
 */
export const SOAP_LIMITS: XmlShapeLimits = {
  maxDepth: 24,
  maxElements: 1_000,
  maxAttributes: 32,
};
