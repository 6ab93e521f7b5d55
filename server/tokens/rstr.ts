/**
 * The WS-Federation `wresult`: a bare WS-Trust February 2005 RequestSecurityTokenResponse around the signed
 * assertion ([MS-MWBF] §2.2.4.1, entra-protocol §1.4). It is not signed; only the assertion is.
 *
 * Written compactly (no whitespace between elements, no self-closing tags) because clients parse it with
 * regular expressions: MSAL takes the raw text between the RequestedSecurityToken tags and compares the
 * TokenType text as is (entra-protocol §3.5). Namespace placement follows AD FS: `t` on the root, `wsu` on
 * Created and Expires, `wsp` on AppliesTo, `wsa` on EndpointReference.
 */
import { escapeText, isXmlSafe } from '../lib/xml-escape.ts';
import { issuanceFailed } from '../lib/errors.ts';
import type { RstrModel } from './types.ts';

export const WSTRUST_2005_NS = 'http://schemas.xmlsoap.org/ws/2005/02/trust';
export const WSU_NS =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
export const WSP_NS = 'http://schemas.xmlsoap.org/ws/2004/09/policy';
export const WSA_NS = 'http://www.w3.org/2005/08/addressing';
export const TOKEN_TYPE_SAML11 = 'urn:oasis:names:tc:SAML:1.0:assertion';
export const REQUEST_TYPE_ISSUE_2005 = 'http://schemas.xmlsoap.org/ws/2005/02/trust/Issue';
export const KEY_TYPE_NO_PROOF_KEY_2005 =
  'http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey';

const TAIL =
  '</t:RequestedSecurityToken>' +
  `<t:TokenType>${TOKEN_TYPE_SAML11}</t:TokenType>` +
  `<t:RequestType>${REQUEST_TYPE_ISSUE_2005}</t:RequestType>` +
  `<t:KeyType>${KEY_TYPE_NO_PROOF_KEY_2005}</t:KeyType>` +
  '</t:RequestSecurityTokenResponse>';

export function writeWsFedRstr(m: RstrModel): string {
  // [MS-MWBF] §2.2.4.1: AppliesTo MUST duplicate the token's Audience; the caller passes the same string.
  if (m.appliesTo.length === 0 || !isXmlSafe(m.appliesTo))
    fail('appliesTo is empty or not XML-safe');
  if (
    !m.assertionXml.startsWith('<saml:Assertion ') ||
    !m.assertionXml.endsWith('</saml:Assertion>')
  ) {
    fail('assertionXml is not a serialized saml:Assertion');
  }
  if (Number.isNaN(m.created.getTime()) || Number.isNaN(m.expires.getTime()))
    fail('lifetime is not a valid date');
  return (
    `<t:RequestSecurityTokenResponse xmlns:t="${WSTRUST_2005_NS}">` +
    `<t:Lifetime><wsu:Created xmlns:wsu="${WSU_NS}">` +
    m.created.toISOString() +
    `</wsu:Created><wsu:Expires xmlns:wsu="${WSU_NS}">` +
    m.expires.toISOString() +
    '</wsu:Expires></t:Lifetime>' +
    `<wsp:AppliesTo xmlns:wsp="${WSP_NS}"><wsa:EndpointReference xmlns:wsa="${WSA_NS}"><wsa:Address>` +
    escapeText(m.appliesTo) +
    '</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>' +
    '<t:RequestedSecurityToken>' +
    // Verbatim: re-serialising signed XML can change the canonical form and break the signature.
    m.assertionXml +
    TAIL
  );
}

function fail(detail: string): never {
  // What the RSTR carries comes from the request's realm and the claims, never a server fault (issue 14 §8).
  throw issuanceFailed(`WS-Fed RSTR: ${detail}`);
}
