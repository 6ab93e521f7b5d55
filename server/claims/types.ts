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
  authenticationMethod:
    'http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationmethod',
  authenticationInstant:
    'http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationinstant',
  authnMethodsReferences: 'http://schemas.microsoft.com/claims/authnmethodsreferences',
  objectGuid: 'http://schemas.microsoft.com/ws/2016/02/identity/claims/objectguid',
  msdsConsistencyGuid:
    'http://schemas.microsoft.com/ws/2016/02/identity/claims/msdsconsistencyguid',
  issuerId: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/issuerid',
} as const;

export const NameIdFormatProperty =
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/format';
export const NameIdFormats = {
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
} as const;

/** AD FS authentication method claim values (entra-protocol.md §1.5). */
export const AuthMethods = {
  password: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
} as const;

export const AD_AUTHORITY = 'AD AUTHORITY';
export const LOCAL_AUTHORITY = 'LOCAL AUTHORITY';
