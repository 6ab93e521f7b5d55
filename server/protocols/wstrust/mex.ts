/**
 * The MEX document at /adfs/services/trust/mex (WSDL 1.1 + WS-Policy), as AD FS publishes it (entra-protocol
 * §3.2; structure compared with tests/fixtures/real-world/adfs-arupela.mex.xml): policies first (direct
 * children of wsdl:definitions, wsu:Id = `<Binding>_policy`), then wsdl:types importing the three schemas at
 * ?xsd=xsd0|1|2, messages, the two port types, the bindings and the service with its ports.
 *
 * Only the endpoints fedgate implements AND has enabled appear: UserNameWSTrustBinding_IWSTrustFeb2005Async
 * (/2005/usernamemixed) and UserNameWSTrustBinding_IWSTrust13Async (/13/usernamemixed). Every binding is a
 * soap12 binding (a single SOAP 1.1 binding crashes MSAL's parser, §3.5). Addresses come from the configured
 * public URL, never from the request's Host header.
 */
import { escapeAttr, escapeText } from '../../lib/xml-escape.ts';
import { TRUST_13, TRUST_2005 } from './constants.ts';

export interface MexOptions {
  /** scheme://host[:port], no trailing slash. */
  publicUrl: string;
  usernamemixed2005: boolean;
  usernamemixed13: boolean;
}

const SP13 = 'http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702';
const SP2005 = 'http://schemas.xmlsoap.org/ws/2005/07/securitypolicy';
const MSSP = 'http://schemas.microsoft.com/ws/2005/07/securitypolicy';
const TNS = 'http://schemas.microsoft.com/ws/2008/06/identity/securitytokenservice';

const ROOT_NAMESPACES: [string, string][] = [
  ['wsdl', 'http://schemas.xmlsoap.org/wsdl/'],
  ['xsd', 'http://www.w3.org/2001/XMLSchema'],
  ['t', TRUST_2005.ns],
  ['soapenc', 'http://schemas.xmlsoap.org/soap/encoding/'],
  ['soap', 'http://schemas.xmlsoap.org/wsdl/soap/'],
  ['tns', TNS],
  ['msc', 'http://schemas.microsoft.com/ws/2005/12/wsdl/contract'],
  ['wsam', 'http://www.w3.org/2007/05/addressing/metadata'],
  ['soap12', 'http://schemas.xmlsoap.org/wsdl/soap12/'],
  ['wsa10', 'http://www.w3.org/2005/08/addressing'],
  ['wsa', 'http://schemas.xmlsoap.org/ws/2004/08/addressing'],
  ['wsaw', 'http://www.w3.org/2006/05/addressing/wsdl'],
  ['wsx', 'http://schemas.xmlsoap.org/ws/2004/09/mex'],
  ['wsap', 'http://schemas.xmlsoap.org/ws/2004/08/addressing/policy'],
  ['wsu', 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd'],
  ['trust', TRUST_13.ns],
  ['wsp', 'http://schemas.xmlsoap.org/ws/2004/09/policy'],
];

const BINDING_2005 = 'UserNameWSTrustBinding_IWSTrustFeb2005Async';
const BINDING_13 = 'UserNameWSTrustBinding_IWSTrust13Async';

function transportBinding(sp: string, httpsToken: string): string {
  return `
        <sp:TransportBinding xmlns:sp="${sp}">
          <wsp:Policy>
            <sp:TransportToken><wsp:Policy>${httpsToken}</wsp:Policy></sp:TransportToken>
            <sp:AlgorithmSuite><wsp:Policy><sp:Basic256/></wsp:Policy></sp:AlgorithmSuite>
            <sp:Layout><wsp:Policy><sp:Strict/></wsp:Policy></sp:Layout>
            <sp:IncludeTimestamp/>
          </wsp:Policy>
        </sp:TransportBinding>`;
}

const POLICY_2005 = `
  <wsp:Policy wsu:Id="${BINDING_2005}_policy">
    <wsp:ExactlyOne>
      <wsp:All>${transportBinding(SP2005, '<sp:HttpsToken RequireClientCertificate="false"/>')}
        <sp:SignedSupportingTokens xmlns:sp="${SP2005}">
          <wsp:Policy>
            <sp:UsernameToken sp:IncludeToken="${SP2005}/IncludeToken/AlwaysToRecipient">
              <wsp:Policy><sp:WssUsernameToken10/></wsp:Policy>
            </sp:UsernameToken>
          </wsp:Policy>
        </sp:SignedSupportingTokens>
        <sp:EndorsingSupportingTokens xmlns:sp="${SP2005}">
          <wsp:Policy>
            <mssp:RsaToken sp:IncludeToken="${SP2005}/IncludeToken/Never" wsp:Optional="true" xmlns:mssp="${MSSP}"/>
            <sp:SignedParts><sp:Header Name="To" Namespace="http://www.w3.org/2005/08/addressing"/></sp:SignedParts>
          </wsp:Policy>
        </sp:EndorsingSupportingTokens>
        <sp:Wss11 xmlns:sp="${SP2005}"><wsp:Policy/></sp:Wss11>
        <sp:Trust10 xmlns:sp="${SP2005}">
          <wsp:Policy><sp:MustSupportIssuedTokens/><sp:RequireClientEntropy/><sp:RequireServerEntropy/></wsp:Policy>
        </sp:Trust10>
        <wsaw:UsingAddressing/>
      </wsp:All>
    </wsp:ExactlyOne>
  </wsp:Policy>`;

const POLICY_13 = `
  <wsp:Policy wsu:Id="${BINDING_13}_policy">
    <wsp:ExactlyOne>
      <wsp:All>${transportBinding(SP13, '<sp:HttpsToken/>')}
        <sp:SignedEncryptedSupportingTokens xmlns:sp="${SP13}">
          <wsp:Policy>
            <sp:UsernameToken sp:IncludeToken="${SP13}/IncludeToken/AlwaysToRecipient">
              <wsp:Policy><sp:WssUsernameToken10/></wsp:Policy>
            </sp:UsernameToken>
          </wsp:Policy>
        </sp:SignedEncryptedSupportingTokens>
        <sp:EndorsingSupportingTokens xmlns:sp="${SP13}">
          <wsp:Policy>
            <sp:KeyValueToken sp:IncludeToken="${SP13}/IncludeToken/Never" wsp:Optional="true"/>
            <sp:SignedParts><sp:Header Name="To" Namespace="http://www.w3.org/2005/08/addressing"/></sp:SignedParts>
          </wsp:Policy>
        </sp:EndorsingSupportingTokens>
        <sp:Wss11 xmlns:sp="${SP13}"><wsp:Policy/></sp:Wss11>
        <sp:Trust13 xmlns:sp="${SP13}">
          <wsp:Policy><sp:MustSupportIssuedTokens/><sp:RequireClientEntropy/><sp:RequireServerEntropy/></wsp:Policy>
        </sp:Trust13>
        <wsaw:UsingAddressing/>
      </wsp:All>
    </wsp:ExactlyOne>
  </wsp:Policy>`;

const MESSAGES_AND_PORT_TYPES = `
  <wsdl:message name="IWSTrustFeb2005Async_TrustFeb2005IssueAsync_InputMessage">
    <wsdl:part name="request" element="t:RequestSecurityToken"/>
  </wsdl:message>
  <wsdl:message name="IWSTrustFeb2005Async_TrustFeb2005IssueAsync_OutputMessage">
    <wsdl:part name="TrustFeb2005IssueAsyncResult" element="t:RequestSecurityTokenResponse"/>
  </wsdl:message>
  <wsdl:message name="IWSTrust13Async_Trust13IssueAsync_InputMessage">
    <wsdl:part name="request" element="trust:RequestSecurityToken"/>
  </wsdl:message>
  <wsdl:message name="IWSTrust13Async_Trust13IssueAsync_OutputMessage">
    <wsdl:part name="Trust13IssueAsyncResult" element="trust:RequestSecurityTokenResponseCollection"/>
  </wsdl:message>
  <wsdl:portType name="IWSTrustFeb2005Async">
    <wsdl:operation name="TrustFeb2005IssueAsync">
      <wsdl:input wsaw:Action="${TRUST_2005.requestAction}" message="tns:IWSTrustFeb2005Async_TrustFeb2005IssueAsync_InputMessage"/>
      <wsdl:output wsaw:Action="${TRUST_2005.responseAction}" message="tns:IWSTrustFeb2005Async_TrustFeb2005IssueAsync_OutputMessage"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:portType name="IWSTrust13Async">
    <wsdl:operation name="Trust13IssueAsync">
      <wsdl:input wsaw:Action="${TRUST_13.requestAction}" message="tns:IWSTrust13Async_Trust13IssueAsync_InputMessage"/>
      <wsdl:output wsaw:Action="${TRUST_13.responseAction}" message="tns:IWSTrust13Async_Trust13IssueAsync_OutputMessage"/>
    </wsdl:operation>
  </wsdl:portType>`;

function binding(name: string, portType: string, operation: string, action: string): string {
  return `
  <wsdl:binding name="${name}" type="tns:${portType}">
    <wsp:PolicyReference URI="#${name}_policy"/>
    <soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="${operation}">
      <soap12:operation soapAction="${action}" style="document"/>
      <wsdl:input><soap12:body use="literal"/></wsdl:input>
      <wsdl:output><soap12:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>`;
}

function port(name: string, address: string): string {
  const a = escapeAttr(address);
  return `
    <wsdl:port name="${name}" binding="tns:${name}">
      <soap12:address location="${a}"/>
      <wsa10:EndpointReference><wsa10:Address>${escapeText(address)}</wsa10:Address></wsa10:EndpointReference>
    </wsdl:port>`;
}

/** The MEX/WSDL document, or undefined when no WS-Trust endpoint is enabled (then there is nothing to describe). */
export function buildMex(o: MexOptions): string | undefined {
  if (!o.usernamemixed2005 && !o.usernamemixed13) return undefined;
  const base = o.publicUrl.replace(/\/+$/, '');
  const mex = `${base}/adfs/services/trust/mex`;
  const ns = ROOT_NAMESPACES.map(([p, u]) => ` xmlns:${p}="${u}"`).join('');
  const policies = (o.usernamemixed2005 ? POLICY_2005 : '') + (o.usernamemixed13 ? POLICY_13 : '');
  const bindings =
    (o.usernamemixed2005
      ? binding(
          BINDING_2005,
          'IWSTrustFeb2005Async',
          'TrustFeb2005IssueAsync',
          TRUST_2005.requestAction,
        )
      : '') +
    (o.usernamemixed13
      ? binding(BINDING_13, 'IWSTrust13Async', 'Trust13IssueAsync', TRUST_13.requestAction)
      : '');
  const ports =
    (o.usernamemixed2005 ? port(BINDING_2005, base + TRUST_2005.path) : '') +
    (o.usernamemixed13 ? port(BINDING_13, base + TRUST_13.path) : '');
  return `<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions name="SecurityTokenService" targetNamespace="${TNS}"${ns}>${policies}
  <wsdl:types>
    <xsd:schema targetNamespace="${TNS}/Imports">
      <xsd:import schemaLocation="${escapeAttr(mex)}?xsd=xsd0" namespace="http://schemas.microsoft.com/Message"/>
      <xsd:import schemaLocation="${escapeAttr(mex)}?xsd=xsd1" namespace="${TRUST_2005.ns}"/>
      <xsd:import schemaLocation="${escapeAttr(mex)}?xsd=xsd2" namespace="${TRUST_13.ns}"/>
    </xsd:schema>
  </wsdl:types>${MESSAGES_AND_PORT_TYPES}${bindings}
  <wsdl:service name="SecurityTokenService">${ports}
  </wsdl:service>
</wsdl:definitions>
`;
}

/**
 * The three schemas the WSDL imports, as WCF generates them: xsd0 defines the untyped message body; xsd1 and
 * xsd2 declare the RST/RSTR elements of each WS-Trust version as such bodies.
 */
export function mexSchema(name: string): string | undefined {
  const header = '<?xml version="1.0" encoding="utf-8"?>\n';
  if (name === 'xsd0') {
    return (
      header +
      `<xs:schema elementFormDefault="qualified" targetNamespace="http://schemas.microsoft.com/Message" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="http://schemas.microsoft.com/Message">
  <xs:complexType name="MessageBody">
    <xs:sequence>
      <xs:any minOccurs="0" maxOccurs="unbounded" namespace="##any"/>
    </xs:sequence>
  </xs:complexType>
</xs:schema>
`
    );
  }
  const elements =
    name === 'xsd1'
      ? { ns: TRUST_2005.ns, names: ['RequestSecurityToken', 'RequestSecurityTokenResponse'] }
      : name === 'xsd2'
        ? {
            ns: TRUST_13.ns,
            names: ['RequestSecurityToken', 'RequestSecurityTokenResponseCollection'],
          }
        : undefined;
  if (elements === undefined) return undefined;
  return (
    header +
    `<xs:schema elementFormDefault="qualified" targetNamespace="${elements.ns}" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:q1="http://schemas.microsoft.com/Message">
  <xs:import namespace="http://schemas.microsoft.com/Message"/>
${elements.names.map((n) => `  <xs:element name="${n}" type="q1:MessageBody"/>`).join('\n')}
</xs:schema>
`
  );
}
