/**
 * Namespaces, actions and URIs of the WS-Trust usernamemixed endpoints (entra-protocol.md §3; WS-Trust 1.3
 * §4 and the February 2005 draft; WS-Security 1.0 UsernameToken Profile; SOAP 1.1 and 1.2).
 */
import { ROUTES } from '../../http/routes.ts';
export type SoapVersion = '1.1' | '1.2';

export const SOAP12_NS = 'http://www.w3.org/2003/05/soap-envelope';
export const SOAP11_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
export const WSA_NS = 'http://www.w3.org/2005/08/addressing';
/** The older WS-Addressing draft some WCF clients still use inside AppliesTo. */
export const WSA_2004_NS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing';
export const WSSE_NS =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
export const WSSE11_NS = 'http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd';
export const WSU_NS =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
export const WSP_NS = 'http://schemas.xmlsoap.org/ws/2004/09/policy';
/** WS-Policy 1.5 (W3C): accepted in AppliesTo as AD FS does. */
export const WSP15_NS = 'http://www.w3.org/ns/ws-policy';
export const PASSWORD_TEXT =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText';
export const ADDRESSING_FAULT_ACTION = 'http://www.w3.org/2005/08/addressing/soap/fault';

export const TOKEN_TYPE_SAML11 = 'urn:oasis:names:tc:SAML:1.0:assertion';
/** Other names clients use for a SAML 1.1 token (WSS SAML Token Profile 1.1 §3.6). */
export const TOKEN_TYPE_SAML11_PROFILE =
  'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1';
export const TOKEN_TYPE_SAML20 = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const TOKEN_TYPE_SAML20_PROFILE =
  'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0';
export const SAML_ASSERTION_ID_VALUE_TYPE =
  'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.0#SAMLAssertionID';
export const SAML2_ID_VALUE_TYPE =
  'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID';

export type TrustVersion = '13' | '2005';

export interface TrustVersionInfo {
  version: TrustVersion;
  /** The wst namespace of the RST and RSTR. */
  ns: string;
  /** wsa:Action / SOAPAction of the request. */
  requestAction: string;
  /** wsa:Action of the response. */
  responseAction: string;
  requestTypeIssue: string;
  /** KeyType values that mean "bearer" (the only kind fedgate issues). */
  bearerKeyTypes: readonly string[];
  /** KeyType written in the response. */
  keyType: string;
  /** The endpoint path (AD FS layout). */
  path: string;
}

export const TRUST_13: TrustVersionInfo = Object.freeze({
  version: '13' as const,
  ns: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512',
  requestAction: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue',
  responseAction: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal',
  requestTypeIssue: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue',
  bearerKeyTypes: [
    'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer',
    'http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey',
  ],
  keyType: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer',
  path: ROUTES.wstrust13,
});

export const TRUST_2005: TrustVersionInfo = Object.freeze({
  version: '2005' as const,
  ns: 'http://schemas.xmlsoap.org/ws/2005/02/trust',
  requestAction: 'http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue',
  responseAction: 'http://schemas.xmlsoap.org/ws/2005/02/trust/RSTR/Issue',
  requestTypeIssue: 'http://schemas.xmlsoap.org/ws/2005/02/trust/Issue',
  bearerKeyTypes: [
    'http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey',
    'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer',
  ],
  keyType: 'http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey',
  path: ROUTES.wstrust2005,
});

export const MEX_PATH = ROUTES.mex;
