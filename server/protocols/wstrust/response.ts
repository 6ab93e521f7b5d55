/**
 * The Issue response (entra-protocol §3.4, shaped after the real AD FS response in
 * ../shared/fixtures/real-world/adfs-rst_response.xml):
 *  - WS-Trust 1.3: RequestSecurityTokenResponseCollection with one RSTR, action RSTRC/IssueFinal;
 *  - February 2005: a bare RequestSecurityTokenResponse (the WSDL output element), action RSTR/Issue.
 * RSTR children in AD FS's order: Lifetime, AppliesTo, RequestedSecurityToken, RequestedAttachedReference,
 * RequestedUnattachedReference, TokenType, RequestType, KeyType. Header: Action, RelatesTo (the request's
 * MessageID, WS-Addressing 1.0 Core §3.4) and a wsse:Security Timestamp valid for 5 minutes.
 *
 * The token is a SAML 1.1 assertion unless the RST's TokenType asked for SAML 2.0 (then a bare signed SAML
 * 2.0 assertion); the RSTR's TokenType echoes the URI the request used.
 *
 * Written compactly with \w+ prefixes and no self-closing tags: MSAL reads the RSTR with regular
 * expressions and takes the raw text between the RequestedSecurityToken tags as the token (§3.5). The signed
 * assertion goes in verbatim (it declares its own saml and ds namespaces).
 */
import { escapeAttr, escapeText } from '../../lib/xml-escape.ts';
import {
  SAML2_ID_VALUE_TYPE,
  SAML_ASSERTION_ID_VALUE_TYPE,
  SOAP11_NS,
  SOAP12_NS,
  TOKEN_TYPE_SAML11_PROFILE,
  TOKEN_TYPE_SAML20_PROFILE,
  WSA_NS,
  WSP_NS,
  WSSE11_NS,
  WSSE_NS,
  WSU_NS,
  type SoapVersion,
  type TrustVersionInfo,
} from './constants.ts';

export interface IssueResponseInput {
  version: TrustVersionInfo;
  soap: SoapVersion;
  /** The signed saml:Assertion (SAML 1.1 or 2.0), inserted verbatim. */
  assertionXml: string;
  assertionId: string;
  /** Which assertion it is: picks the token reference's TokenType and KeyIdentifier ValueType. */
  tokenKind: 'saml11' | 'saml2';
  /** The RSTR's TokenType: the URI the request asked for (WS-Trust 1.3 §4.4), SAML 1.1's URN by default. */
  tokenTypeUri: string;
  appliesTo: string;
  /** The request's wsa:MessageID (RelatesTo). */
  relatesTo: string;
  created: Date;
  expires: Date;
  /** Response timestamp validity (AD FS: 5 minutes). */
  now: Date;
}

/**
 * The attached/unattached reference to the issued assertion, as AD FS writes it (WSS SAML Token Profile 1.1
 * §3.3.2, §3.4): a KeyIdentifier holding the assertion's ID, with the profile's token type on the
 * SecurityTokenReference. SAML 1.1: TokenType #SAMLV1.1, ValueType #SAMLAssertionID (1.0 profile URI);
 * SAML 2.0: TokenType #SAMLV2.0, ValueType #SAMLID.
 */
function tokenReference(assertionId: string, kind: 'saml11' | 'saml2'): string {
  const [tokenType, valueType] =
    kind === 'saml2'
      ? [TOKEN_TYPE_SAML20_PROFILE, SAML2_ID_VALUE_TYPE]
      : [TOKEN_TYPE_SAML11_PROFILE, SAML_ASSERTION_ID_VALUE_TYPE];
  return (
    `<o:SecurityTokenReference k:TokenType="${tokenType}" xmlns:k="${WSSE11_NS}" xmlns:o="${WSSE_NS}">` +
    `<o:KeyIdentifier ValueType="${valueType}">${escapeText(assertionId)}</o:KeyIdentifier>` +
    '</o:SecurityTokenReference>'
  );
}

/** The RSTR (without collection) with the given prefix bound to the version's namespace by the caller. */
function rstr(p: string, m: IssueResponseInput): string {
  const ref = tokenReference(m.assertionId, m.tokenKind);
  return (
    `<${p}:Lifetime>` +
    `<wsu:Created xmlns:wsu="${WSU_NS}">${m.created.toISOString()}</wsu:Created>` +
    `<wsu:Expires xmlns:wsu="${WSU_NS}">${m.expires.toISOString()}</wsu:Expires>` +
    `</${p}:Lifetime>` +
    `<wsp:AppliesTo xmlns:wsp="${WSP_NS}"><wsa:EndpointReference xmlns:wsa="${WSA_NS}">` +
    `<wsa:Address>${escapeText(m.appliesTo)}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>` +
    `<${p}:RequestedSecurityToken>${m.assertionXml}</${p}:RequestedSecurityToken>` +
    `<${p}:RequestedAttachedReference>${ref}</${p}:RequestedAttachedReference>` +
    `<${p}:RequestedUnattachedReference>${ref}</${p}:RequestedUnattachedReference>` +
    `<${p}:TokenType>${escapeText(m.tokenTypeUri)}</${p}:TokenType>` +
    `<${p}:RequestType>${m.version.requestTypeIssue}</${p}:RequestType>` +
    `<${p}:KeyType>${m.version.keyType}</${p}:KeyType>`
  );
}

export function writeIssueResponse(m: IssueResponseInput): { contentType: string; body: string } {
  const body =
    m.version.version === '13'
      ? `<trust:RequestSecurityTokenResponseCollection xmlns:trust="${m.version.ns}">` +
        `<trust:RequestSecurityTokenResponse>${rstr('trust', m)}</trust:RequestSecurityTokenResponse>` +
        '</trust:RequestSecurityTokenResponseCollection>'
      : `<t:RequestSecurityTokenResponse xmlns:t="${m.version.ns}">${rstr('t', m)}</t:RequestSecurityTokenResponse>`;
  const soapNs = m.soap === '1.2' ? SOAP12_NS : SOAP11_NS;
  const tsExpires = new Date(m.now.getTime() + 5 * 60_000);
  const xml =
    `<s:Envelope xmlns:s="${soapNs}" xmlns:a="${WSA_NS}" xmlns:u="${WSU_NS}">` +
    '<s:Header>' +
    `<a:Action s:mustUnderstand="1">${m.version.responseAction}</a:Action>` +
    `<a:RelatesTo>${escapeText(m.relatesTo)}</a:RelatesTo>` +
    `<o:Security s:mustUnderstand="1" xmlns:o="${WSSE_NS}">` +
    `<u:Timestamp u:Id="${escapeAttr('_0')}"><u:Created>${m.now.toISOString()}</u:Created>` +
    `<u:Expires>${tsExpires.toISOString()}</u:Expires></u:Timestamp></o:Security>` +
    '</s:Header>' +
    `<s:Body>${body}</s:Body></s:Envelope>`;
  return {
    contentType:
      m.soap === '1.2' ? 'application/soap+xml; charset=utf-8' : 'text/xml; charset=utf-8',
    body: xml,
  };
}
