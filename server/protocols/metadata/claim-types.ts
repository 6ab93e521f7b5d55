/**
 * The claim types fedgate's federation metadata offers (`fed:ClaimTypesOffered`, WS-Federation 1.2 §3.1.8).
 *
 * Only what fedgate issues today is listed: the Microsoft 365 set (UPN, ImmutableID, nameidentifier,
 * authnmethodsreferences, entra-protocol §1.5/§1.6) and the common identity claims its rules can emit.
 * Add a type here when a claim rule starts issuing it. Display names are the ones AD FS publishes for the
 * same URIs (real AD FS 2016 metadata, tests/fixtures/real-world) so that tools which show them look familiar;
 * ImmutableID is not in AD FS's list (AD FS issues it through a custom rule), so its name is ours.
 */
export interface OfferedClaimType {
  uri: string;
  displayName: string;
  description: string;
}

export const CLAIM_TYPES_OFFERED: readonly OfferedClaimType[] = Object.freeze([
  {
    uri: 'http://schemas.xmlsoap.org/claims/UPN',
    displayName: 'AD FS 1.x UPN',
    description: 'User principal name, in the form Microsoft Entra ID and AD FS 1.x expect',
  },
  {
    uri: 'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID',
    displayName: 'ImmutableID',
    description:
      'Source anchor that links the directory user to its Microsoft Entra ID account (onPremisesImmutableId)',
  },
  {
    uri: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier',
    displayName: 'Name ID',
    description: 'Identifier of the subject, sent as the SAML NameIdentifier',
  },
  {
    uri: 'http://schemas.microsoft.com/claims/authnmethodsreferences',
    displayName: 'Authentication Methods References',
    description: 'Methods that were used to authenticate the user in this session',
  },
  {
    uri: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
    displayName: 'Name',
    description: 'Unique name of the user',
  },
  {
    uri: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
    displayName: 'E-Mail Address',
    description: 'E-mail address of the user',
  },
  {
    uri: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
    displayName: 'Given Name',
    description: 'Given name of the user',
  },
  {
    uri: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
    displayName: 'Surname',
    description: 'Surname of the user',
  },
  {
    uri: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname',
    displayName: 'Windows account name',
    description: 'Directory account name of the user, written as domain\\user',
  },
  {
    uri: 'http://schemas.xmlsoap.org/claims/Group',
    displayName: 'Group',
    description: 'A group the user belongs to',
  },
]);
