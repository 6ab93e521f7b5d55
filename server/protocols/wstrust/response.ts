/**
 * The Issue response (entra-protocol §3.4, shaped after the real AD FS response in
 * ../shared/fixtures/real-world/adfs-rst_response.xml):
 *  - WS-Trust 1.3: RequestSecurityTokenResponseCollection with one RSTR, action RSTRC/IssueFinal;
 *  - February 2005: a bare RequestSecurityTokenResponse (the WSDL output element), action RSTR/Issue.
 * RSTR children in AD FS's order: Lifetime, AppliesTo, RequestedSecurityToken, RequestedAttachedReference,
 * RequestedUnattachedReference, TokenType, RequestType, KeyType. Header: Action, RelatesTo (the request's
 * MessageID, WS-Addressing 1.0 Core §3.4) and a wsse:Security Timestamp valid for 5 minutes.
 *
 * Written compactly with \w+ prefixes and no self-closing tags: MSAL reads the RSTR with regular
 * expressions and takes the raw text between the RequestedSecurityToken tags as the token (§3.5). The signed
 * assertion goes in verbatim (it declares its own saml and ds namespaces).
 */
import { escapeAttr, escapeText } from '../../lib/xml-escape.ts';
import {
  SAML_ASSERTION_ID_VALUE_TYPE,
  SOAP11_NS,
  SOAP12_NS,
  TOKEN_TYPE_SAML11,
  TOKEN_TYPE_SAML11_PROFILE,
  WSA_NS,
  WSP_NS,
  WSSE11_NS,
  WSSE_NS,
  WSU_NS,
  type TrustVersionInfo,
} from './constants.ts';
import type { SoapVersion } from './soap.ts';

export interface IssueResponseInput {
  version: TrustVersionInfo;
  soap: SoapVersion;
  /** The signed saml:Assertion, inserted verbatim. */
  assertionXml: string;
  assertionId: string;
  appliesTo: string;
  /** The request's wsa:MessageID (RelatesTo). */
  relatesTo: string;
  created: Date;
  expires: Date;
  /** Response timestamp validity (AD FS: 5 minutes). */
  now: Date;
}

function tokenReference(assertionId: string): string {
  return (
    `<o:SecurityTokenReference k:TokenType="${TOKEN_TYPE_SAML11_PROFILE}" xmlns:k="${WSSE11_NS}" xmlns:o="${WSSE_NS}">` +
    `<o:KeyIdentifier ValueType="${SAML_ASSERTION_ID_VALUE_TYPE}">${escapeText(assertionId)}</o:KeyIdentifier>` +
    '</o:SecurityTokenReference>'
  );
}

/** The RSTR (without collection) with the given prefix bound to the version's namespace by the caller. */
function rstr(p: string, m: IssueResponseInput): string {
  const ref = tokenReference(m.assertionId);
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
    `<${p}:TokenType>${TOKEN_TYPE_SAML11}</${p}:TokenType>` +
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
