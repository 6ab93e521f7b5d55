import type { DirectoryUser } from '../directory/types.ts';
import type { ClaimsPreset } from '../trust/registry.ts';
import {
  AD_AUTHORITY,
  ClaimTypes,
  LOCAL_AUTHORITY,
  NameIdFormatProperty,
  NameIdFormats,
  type Claim,
  type ClaimSet,
} from './types.ts';

export interface AuthenticationContext {
  user: DirectoryUser;
  /** AD FS authentication method URI (e.g. …/authenticationmethod/password). */
  method: string;
  instant: Date;
}

/**
 * The claims the authentication step provides, as AD FS gives them to the claims pipeline: the Windows account
 * name, UPN and primary SID from AD (issuer AD AUTHORITY), the authentication method and instant.
 */
export function inputClaims(ctx: AuthenticationContext): ClaimSet {
  const u = ctx.user;
  const ad = (type: string, value: string): Claim => ({
    type,
    value,
    issuer: AD_AUTHORITY,
    originalIssuer: AD_AUTHORITY,
  });
  const out: Claim[] = [
    ad(ClaimTypes.windowsAccountName, u.windowsAccountName),
    ad(ClaimTypes.name, u.windowsAccountName),
  ];
  if (u.userPrincipalName !== undefined) out.push(ad(ClaimTypes.upnWif, u.userPrincipalName));
  if (u.objectSid !== undefined) out.push(ad(ClaimTypes.primarySid, u.objectSid));
  out.push(
    { type: ClaimTypes.authenticationMethod, value: ctx.method, issuer: LOCAL_AUTHORITY },
    {
      type: ClaimTypes.authenticationInstant,
      value: ctx.instant.toISOString(),
      issuer: LOCAL_AUTHORITY,
    },
  );
  return out;
}

/**
 * The issuance step. A fixed mapping for now: the claim-rule engine (a later issue) replaces it with the AD FS
 * rule language running the same Microsoft 365 rule set. The Microsoft 365 preset issues what Entra Connect's
 * rules issue for a user: UPN, ImmutableID (mS-DS-ConsistencyGuid when set, else objectGUID, base64),
 * nameidentifier = ImmutableID with the SAML 1.1 unspecified format, and authnmethodsreferences.
 */
export function issueClaims(preset: ClaimsPreset, ctx: AuthenticationContext): ClaimSet {
  const u = ctx.user;
  const out: Claim[] = [];
  if (preset === 'microsoft365') {
    // Entra finds the user by ImmutableID and checks the UPN; a user without a UPN cannot sign in to Microsoft 365.
    if (u.userPrincipalName !== undefined)
      out.push({ type: ClaimTypes.upn, value: u.userPrincipalName });
    out.push(
      { type: ClaimTypes.immutableId, value: u.immutableId },
      {
        type: ClaimTypes.nameIdentifier,
        value: u.immutableId,
        properties: { [NameIdFormatProperty]: NameIdFormats.unspecified },
      },
      { type: ClaimTypes.authnMethodsReferences, value: ctx.method },
    );
    return out;
  }
  const nameId = u.userPrincipalName ?? u.windowsAccountName;
  out.push({
    type: ClaimTypes.nameIdentifier,
    value: nameId,
    properties: { [NameIdFormatProperty]: NameIdFormats.unspecified },
  });
  if (u.userPrincipalName !== undefined)
    out.push({ type: ClaimTypes.upnWif, value: u.userPrincipalName });
  out.push({ type: ClaimTypes.name, value: u.displayName ?? u.windowsAccountName });
  out.push({ type: ClaimTypes.windowsAccountName, value: u.windowsAccountName });
  if (u.mail !== undefined) out.push({ type: ClaimTypes.email, value: u.mail });
  if (u.givenName !== undefined) out.push({ type: ClaimTypes.givenName, value: u.givenName });
  if (u.surname !== undefined) out.push({ type: ClaimTypes.surname, value: u.surname });
  for (const g of u.groups) out.push({ type: ClaimTypes.group, value: g });
  out.push({ type: ClaimTypes.authnMethodsReferences, value: ctx.method });
  return out;
}
