/**
 * The claims a sign-in starts with, as AD FS gives them to a relying party's rules: what its Active Directory
 * claims provider contributes (issuer AD AUTHORITY), the authentication facts, and the request context claims
 * (issuer CLIENT CONTEXT) access-control rules use ([CAP] x-ms-* claims; entra-protocol.md §1.6).
 */
import type { CertificateContext } from '../authn/certificate/context.ts';
import { METHOD_URIS, type MfaMethod } from '../authn/mfa/factors.ts';
import type { DirectoryUser } from '../directory/types.ts';
import {
  AD_AUTHORITY,
  CLIENT_CONTEXT,
  ClaimTypes,
  ClaimValueTypes,
  LOCAL_AUTHORITY,
  type Claim,
} from './types.ts';

export interface AuthenticationContext {
  user: DirectoryUser;
  /** AD FS authentication method URI (e.g. …/authenticationmethod/password). */
  method: string;
  instant: Date;
  /** The certificate of a certificate sign-in: its AD FS certificate claims join the input claims. */
  certificate?: CertificateContext | undefined;
  /**
   * The second factors verified in this sign-in's SSO session (SsoSession.mfa), and when the last one was (ISO
   * 8601). Absent unless a second factor was verified in this session: the MFA claims come only from here (corpus
   * B5.4).
   */
  mfa?: { methods: readonly MfaMethod[]; instant: string } | undefined;
  /** "Keep me signed in" was chosen (AD FS persistent SSO): the psso claim says so (issue 17). */
  persistent?: boolean | undefined;
}

/** The authnmethodsreferences value that says more than one factor was used (adfs-reference.md §2 [MFAADFS]). */
export const MULTIPLE_AUTHN_REFERENCE = 'http://schemas.microsoft.com/claims/multipleauthn';

/** What the protocol layer knows about the request. */
export interface RequestContext {
  /** The client's address (after trusted-proxy handling). */
  clientIp: string;
  /** X-Forwarded-For addresses a trusted proxy passed on (x-ms-forwarded-client-ip). */
  forwardedClientIps?: readonly string[] | undefined;
  userAgent?: string | undefined;
  /** The endpoint the request came to, e.g. /adfs/ls/. */
  endpointPath: string;
  /** The trusted proxy the request came through, when it did (x-ms-proxy). */
  proxy?: string | undefined;
  /**
   * x-ms-client-application: the protocol/application of an active request, from the X-MS-Client-Application
   * header Exchange Online sets when it relays a client's basic-auth sign-in over WS-Trust
   * (e.g. Microsoft.Exchange.ActiveSync, Microsoft.Exchange.Autodiscover). Passive sign-ins leave it unset.
   */
  clientApplication?: string | undefined;
  /**
   * insidecorporatenetwork: the client address (after trusted proxies) is in config.corporateNetworks
   * (lib/ip.ts insideCorporateNetwork); false for every request when none are configured, what AD FS says for
   * every request through its Web Application Proxy.
   */
  insideCorporateNetwork: boolean;
}

/** Longest request-context value kept (a user agent is the client's to choose). */
const MAX_CONTEXT_VALUE = 1024;

/**
 * Input claims: windowsaccountname (DOMAIN\sam), name (the same, as AD FS), upn, primarysid, primarygroupsid
 * (domain SID + primaryGroupID) and one groupsid per group the user is in (nested and primary included, from
 * tokenGroups), authenticationmethod, authenticationinstant, authnmethodsreferences, insidecorporatenetwork and the
 * x-ms-* request context claims (x-ms-client-application when the caller knows it).
 */
export function inputClaims(
  auth: AuthenticationContext,
  request: RequestContext,
  groupSids: readonly string[],
  primaryGroupSid?: string,
): Claim[] {
  const u = auth.user;
  const from = (issuer: string, type: string, value: string, valueType?: string): Claim => ({
    type,
    value,
    issuer,
    originalIssuer: issuer,
    valueType: valueType ?? ClaimValueTypes.string,
  });
  const ad = (type: string, value: string): Claim => from(AD_AUTHORITY, type, value);
  const context = (type: string, value: string, valueType?: string): Claim =>
    from(CLIENT_CONTEXT, type, value.slice(0, MAX_CONTEXT_VALUE), valueType);
  const out: Claim[] = [
    ad(ClaimTypes.windowsAccountName, u.windowsAccountName),
    ad(ClaimTypes.name, u.windowsAccountName),
  ];
  if (u.userPrincipalName !== undefined) out.push(ad(ClaimTypes.upnWif, u.userPrincipalName));
  if (u.objectSid !== undefined) out.push(ad(ClaimTypes.primarySid, u.objectSid));
  if (primaryGroupSid !== undefined) out.push(ad(ClaimTypes.primaryGroupSid, primaryGroupSid));
  for (const sid of groupSids) out.push(ad(ClaimTypes.groupSid, sid));
  // Set only by a username/password sign-in whose password expires within the notice window (authn/password.ts); the
  // _PasswordExpiryStore rule turns it into the three expiry claims. UNCERTAIN: AD FS does not document the value's
  // format; xs:dateTime (UTC) is used, which the store also accepts as a FILETIME.
  if (u.passwordExpiryNotice !== undefined) {
    out.push(
      from(
        AD_AUTHORITY,
        ClaimTypes.passwordExpirationTime,
        u.passwordExpiryNotice.toISOString(),
        ClaimValueTypes.dateTime,
      ),
    );
  }
  out.push(
    from(LOCAL_AUTHORITY, ClaimTypes.authenticationMethod, auth.method),
    from(
      LOCAL_AUTHORITY,
      ClaimTypes.authenticationInstant,
      auth.instant.toISOString(),
      ClaimValueTypes.dateTime,
    ),
    from(LOCAL_AUTHORITY, ClaimTypes.authnMethodsReferences, auth.method),
    ...mfaClaims(auth, from),
    // AD FS's persistent-SSO claim, which the Microsoft 365 rules pass through ("Pass Through Claim - Psso",
    // entra-protocol.md): only for a kept sign-in.
    ...(auth.persistent === true
      ? [from(LOCAL_AUTHORITY, ClaimTypes.psso, 'true', ClaimValueTypes.boolean)]
      : []),
    context(
      ClaimTypes.insideCorporateNetwork,
      request.insideCorporateNetwork ? 'true' : 'false',
      ClaimValueTypes.boolean,
    ),
    context(ClaimTypes.clientIp, request.clientIp),
  );
  if (auth.certificate !== undefined) out.push(...certificateClaims(auth.certificate));
  for (const ip of request.forwardedClientIps ?? [])
    out.push(context(ClaimTypes.forwardedClientIp, ip));
  if (request.userAgent !== undefined && request.userAgent !== '')
    out.push(context(ClaimTypes.clientUserAgent, request.userAgent));
  out.push(context(ClaimTypes.endpointAbsolutePath, request.endpointPath));
  if (request.proxy !== undefined) out.push(context(ClaimTypes.proxy, request.proxy));
  if (request.clientApplication !== undefined && request.clientApplication !== '')
    out.push(context(ClaimTypes.clientApplication, request.clientApplication));
  return out;
}

/**
 * A verified second factor (issue 16 "Claims"): authnmethodsreferences gets each method's URI and multipleauthn
 * after the primary method (AD FS lists the methods used and adds multipleauthn after MFA, [MFAADFS]);
 * multifactorauthenticationinstant is the last verification, xs:dateTime in UTC like authenticationinstant.
 * Nothing without auth.mfa, and nothing when it names no method or no valid instant (a record that cannot say
 * what was done does not claim MFA).
 */
function mfaClaims(
  auth: AuthenticationContext,
  from: (issuer: string, type: string, value: string, valueType?: string) => Claim,
): Claim[] {
  const mfa = auth.mfa;
  if (mfa === undefined || mfa.methods.length === 0) return [];
  const instant = new Date(mfa.instant);
  if (Number.isNaN(instant.getTime())) return [];
  const uris: Partial<Record<string, string>> = METHOD_URIS;
  const refs = [...new Set(mfa.methods.map((m) => uris[m]))].filter(
    (uri): uri is string => uri !== undefined && uri !== auth.method,
  );
  return [
    ...refs.map((uri) => from(LOCAL_AUTHORITY, ClaimTypes.authnMethodsReferences, uri)),
    from(LOCAL_AUTHORITY, ClaimTypes.authnMethodsReferences, MULTIPLE_AUTHN_REFERENCE),
    from(
      LOCAL_AUTHORITY,
      ClaimTypes.multifactorAuthenticationInstant,
      instant.toISOString(),
      ClaimValueTypes.dateTime,
    ),
  ];
}

/**
 * AD FS's certificate claims for a certificate sign-in (entra-protocol.md §5.3, [CBA]): serial number, issuer,
 * subject, thumbprint, validity, EKUs (one claim each), SAN, key usage, key identifiers, policies, template, raw data.
 * Issuer AD AUTHORITY, as the Active Directory claims provider contributes them (UNCERTAIN: AD FS does not document
 * their Issuer; acceptance rules that test it should match both AD AUTHORITY and LOCAL AUTHORITY).
 */
export function certificateClaims(c: CertificateContext): Claim[] {
  const claim = (
    type: string,
    value: string,
    valueType: string = ClaimValueTypes.string,
  ): Claim => ({
    type,
    value,
    issuer: AD_AUTHORITY,
    originalIssuer: AD_AUTHORITY,
    valueType,
  });
  const out: Claim[] = [
    claim(ClaimTypes.certSerialNumber, c.serialNumber),
    claim(ClaimTypes.certThumbprint, c.thumbprint),
    claim(ClaimTypes.certIssuer, c.issuer),
    claim(ClaimTypes.certIssuerName, c.issuer),
    claim(ClaimTypes.certSubject, c.subject),
    claim(ClaimTypes.certSubjectName, c.subject),
    claim(ClaimTypes.certNotBefore, c.notBefore, ClaimValueTypes.dateTime),
    claim(ClaimTypes.certNotAfter, c.notAfter, ClaimValueTypes.dateTime),
    claim(ClaimTypes.certVersion, String(c.version)),
    claim(ClaimTypes.certSignatureAlgorithm, c.signatureAlgorithm),
    claim(ClaimTypes.certRawData, c.rawData),
  ];
  for (const eku of c.eku) out.push(claim(ClaimTypes.certEku, eku));
  if (c.san !== '') out.push(claim(ClaimTypes.certSan, c.san));
  if (c.keyUsage !== undefined) out.push(claim(ClaimTypes.certKeyUsage, c.keyUsage));
  if (c.subjectKeyIdentifier !== undefined)
    out.push(claim(ClaimTypes.certSubjectKeyIdentifier, c.subjectKeyIdentifier));
  if (c.authorityKeyIdentifier !== undefined)
    out.push(claim(ClaimTypes.certAuthorityKeyIdentifier, c.authorityKeyIdentifier));
  if (c.basicConstraints !== undefined)
    out.push(claim(ClaimTypes.certBasicConstraints, c.basicConstraints));
  for (const p of c.policies) out.push(claim(ClaimTypes.certCertificatePolicy, p));
  for (const p of c.applicationPolicies) out.push(claim(ClaimTypes.certApplicationPolicy, p));
  if (c.templateName !== undefined) out.push(claim(ClaimTypes.certTemplateName, c.templateName));
  if (c.templateOid !== undefined)
    out.push(claim(ClaimTypes.certTemplateInformation, c.templateOid));
  return out;
}
