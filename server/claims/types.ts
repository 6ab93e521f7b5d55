/** A claim as AD FS models it (claim rule language selectors: Type, Value, Issuer, OriginalIssuer, ValueType, Properties). */
export interface Claim {
  type: string;
  value: string;
  issuer?: string | undefined;
  originalIssuer?: string | undefined;
  valueType?: string | undefined;
  properties?: Readonly<Record<string, string>> | undefined;
}

export type ClaimSet = readonly Claim[];

export const ClaimTypes = {
  upn: 'http://schemas.xmlsoap.org/claims/UPN',
  upnWif: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  immutableId: 'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID',
  nameIdentifier: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier',
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  givenName: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
  surname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
  windowsAccountName: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname',
  group: 'http://schemas.xmlsoap.org/claims/Group',
  primarySid: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/primarysid',
  primaryGroupSid: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid',
  authenticationMethod:
    'http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationmethod',
  authenticationInstant:
    'http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationinstant',
  authnMethodsReferences: 'http://schemas.microsoft.com/claims/authnmethodsreferences',
  /** AD FS persistent SSO ("Keep me signed in"); the Microsoft 365 rules pass it through. */
  psso: 'http://schemas.microsoft.com/2014/03/psso',
  /** UTC time of the last second factor verified (entra-protocol.md §1.6 [TRUST], [MFAIN]). */
  multifactorAuthenticationInstant:
    'http://schemas.microsoft.com/ws/2017/04/identity/claims/multifactorauthenticationinstant',
  objectGuid: 'http://schemas.microsoft.com/ws/2016/02/identity/claims/objectguid',
  msdsConsistencyGuid:
    'http://schemas.microsoft.com/ws/2016/02/identity/claims/msdsconsistencyguid',
  issuerId: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/issuerid',
  groupSid: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid',
  role: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
  insideCorporateNetwork: 'http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork',
  accountType: 'http://schemas.microsoft.com/ws/2012/01/accounttype',
  passwordExpirationTime: 'http://schemas.microsoft.com/ws/2012/01/passwordexpirationtime',
  passwordExpirationDays: 'http://schemas.microsoft.com/ws/2012/01/passwordexpirationdays',
  passwordChangeUrl: 'http://schemas.microsoft.com/ws/2012/01/passwordchangeurl',
  /** Request context claims ([CAP] Access-Control-Policies-W2K12: x-ms-* claims, issuer CLIENT CONTEXT). */
  clientIp: 'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-ip',
  forwardedClientIp:
    'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-forwarded-client-ip',
  clientUserAgent:
    'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-user-agent',
  endpointAbsolutePath:
    'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-endpoint-absolute-path',
  proxy: 'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-proxy',
  /** What the client application is, as Exchange Online says for active (WS-Trust) requests it relays. */
  clientApplication:
    'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-application',
  /** Certificate sign-in (AD FS certificate claims, entra-protocol.md §5.3). */
  certSerialNumber: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/serialnumber',
  certThumbprint: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/thumbprint',
  certIssuer: 'http://schemas.microsoft.com/2012/12/certificatecontext/field/issuer',
  certIssuerName: 'http://schemas.microsoft.com/2012/12/certificatecontext/field/issuername',
  certSubject: 'http://schemas.microsoft.com/2012/12/certificatecontext/field/subject',
  certSubjectName: 'http://schemas.microsoft.com/2012/12/certificatecontext/field/subjectname',
  certNotBefore: 'http://schemas.microsoft.com/2012/12/certificatecontext/field/notbefore',
  certNotAfter: 'http://schemas.microsoft.com/2012/12/certificatecontext/field/notafter',
  certVersion: 'http://schemas.microsoft.com/2012/12/certificatecontext/field/x509version',
  certSignatureAlgorithm:
    'http://schemas.microsoft.com/2012/12/certificatecontext/field/signaturealgorithm',
  certRawData: 'http://schemas.microsoft.com/2012/12/certificatecontext/field/rawdata',
  certEku: 'http://schemas.microsoft.com/2012/12/certificatecontext/extension/eku',
  certSan: 'http://schemas.microsoft.com/2012/12/certificatecontext/extension/san',
  certKeyUsage: 'http://schemas.microsoft.com/2012/12/certificatecontext/extension/keyusage',
  certSubjectKeyIdentifier:
    'http://schemas.microsoft.com/2012/12/certificatecontext/extension/subjectkeyidentifier',
  certAuthorityKeyIdentifier:
    'http://schemas.microsoft.com/2012/12/certificatecontext/extension/authoritykeyidentifier',
  certBasicConstraints:
    'http://schemas.microsoft.com/2012/12/certificatecontext/extension/basicconstraints',
  certCertificatePolicy:
    'http://schemas.microsoft.com/2012/12/certificatecontext/extension/certificatepolicy',
  certApplicationPolicy:
    'http://schemas.microsoft.com/2012/12/certificatecontext/extension/applicationpolicy',
  certTemplateName:
    'http://schemas.microsoft.com/2012/12/certificatecontext/extension/certificatetemplatename',
  certTemplateInformation:
    'http://schemas.microsoft.com/2012/12/certificatecontext/extension/certificatetemplateinformation',
  /** Issuance authorization rules' outcome ([CRL]; AD FS "Permit All Users" / "Deny" templates). */
  permit: 'http://schemas.microsoft.com/authorization/claims/permit',
  deny: 'http://schemas.microsoft.com/authorization/claims/deny',
} as const;

/** Claim value types (XML Schema datatypes, as WIF/AD FS name them). */
export const ClaimValueTypes = {
  string: 'http://www.w3.org/2001/XMLSchema#string',
  boolean: 'http://www.w3.org/2001/XMLSchema#boolean',
  dateTime: 'http://www.w3.org/2001/XMLSchema#dateTime',
} as const;

export const NameIdFormatProperty =
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/format';
export const NameIdFormats = {
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
} as const;

/** AD FS authentication method claim values (entra-protocol.md §1.5). */
export const AuthMethods = {
  password: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
  /** TLS client certificate (smartcard) sign-in, AD FS's value for certificate authentication [AUTHM]. */
  tlsClient: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient',
} as const;

/** Issuer of the claims AD FS's Active Directory claims provider contributes (windowsaccountname, groupsid, …). */
export const AD_AUTHORITY = 'AD AUTHORITY';
/** Issuer of claims the rules themselves create (AD FS default for issue/add without Issuer = …). */
export const LOCAL_AUTHORITY = 'LOCAL AUTHORITY';
/** Issuer of request context claims (insidecorporatenetwork, x-ms-*). */
export const CLIENT_CONTEXT = 'CLIENT CONTEXT';
