/**
 * Claims → SAML 2.0 assertion model (tokens/types.ts Saml2AssertionModel).
 *
 * Microsoft 365 (claims preset microsoft365, entra-protocol §2, SP-Lite): NameID persistent = ImmutableID,
 * one attribute IDPEmail = UPN, nothing else (Entra reads only these), Issuer = the issuerid claim (per-domain
 * issuer) or issuerUri.
 * Other service providers (what AD FS does for SAML-P trusts): the nameidentifier claim is the NameID, its
 * format the trust's nameIdFormat or the claim's format property; every other claim is an Attribute named by
 * its claim type with NameFormat uri, values of one type in one Attribute.
 */
import { ClaimTypes, NameIdFormatProperty, type ClaimSet } from '../claims/types.ts';
import { issuanceFailed } from '../lib/errors.ts';
import {
  ATTRNAME_FORMAT_URI,
  AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
  NAMEID_FORMAT_PERSISTENT,
} from './index.ts';
import type { Saml2Attribute, Saml2AssertionModel } from './types.ts';
import type { RelyingParty } from '../trust/registry.ts';

export const NAMEID_UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

/** SAML 2.0 AuthnContextClassRef for an AD FS authentication method claim. */
const CONTEXT_CLASS: Record<string, string> = {
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password':
    AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
  // Certificate (smartcard) sign-in: X509 (SAML Authn Context §3.4.23, "public key … X.509"), the class AD FS
  // reports for certificate authentication.
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient':
    'urn:oasis:names:tc:SAML:2.0:ac:classes:X509',
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/x509':
    'urn:oasis:names:tc:SAML:2.0:ac:classes:X509',
};

const NOT_ATTRIBUTES = new Set<string>([ClaimTypes.nameIdentifier, ClaimTypes.issuerId]);

/** The NameID format this party gets (what NameIDPolicy is checked against). */
/**
 * The NameID format a trust always issues, whatever its rules do: the trust file's nameIdFormat, or persistent for
 * Microsoft 365. Undefined when the format comes from the rules' nameidentifier claim (known only after they run).
 */
export function pinnedNameIdFormat(rp: RelyingParty): string | undefined {
  if (rp.saml?.policy.nameIdFormat !== undefined) return rp.saml.policy.nameIdFormat;
  return rp.claimsPreset === 'microsoft365' ? NAMEID_FORMAT_PERSISTENT : undefined;
}

export function nameIdFormatFor(rp: RelyingParty, claims?: ClaimSet): string {
  if (rp.saml?.policy.nameIdFormat !== undefined) return rp.saml.policy.nameIdFormat;
  if (rp.claimsPreset === 'microsoft365') return NAMEID_FORMAT_PERSISTENT;
  const c = claims?.find((x) => x.type === ClaimTypes.nameIdentifier);
  // An empty format property (a rule writing Properties[…format] = "") is no format: unspecified.
  return c?.properties?.[NameIdFormatProperty] || NAMEID_UNSPECIFIED;
}

export interface Saml2AssertionInput {
  rp: RelyingParty;
  claims: ClaimSet;
  assertionId: string;
  issuer: string;
  acs: string;
  inResponseTo?: string | undefined;
  now: Date;
  authMethod: string;
  authInstant: Date;
  sessionIndex: string;
  /**
   * A second factor was verified in this sign-in's session (AuthenticationContext.mfa / SsoSession.mfa present).
   * Only then is the class multipleauthn (corpus B5.4).
   */
  mfa?: boolean | undefined;
}

/**
 * The AuthnContextClassRef of a sign-in with a verified second factor: AD FS's multipleauthn URI, the only MFA
 * signal Entra ID reads from a SAML 2.0 assertion (adfs-reference.md §2 [MFAIN]: "SAML 2.0 only
 * AuthnContextClassRef in AuthnStatement").
 */
export const AUTHN_CONTEXT_MULTIPLE_AUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';

export function toSaml2Model(i: Saml2AssertionInput): Saml2AssertionModel {
  const m365 = i.rp.claimsPreset === 'microsoft365';
  const issuer = i.claims.find((c) => c.type === ClaimTypes.issuerId)?.value ?? i.issuer;
  let nameIdValue: string | undefined;
  let attributes: Saml2Attribute[];
  if (m365) {
    nameIdValue = i.claims.find((c) => c.type === ClaimTypes.immutableId)?.value;
    const upn = i.claims.find((c) => c.type === ClaimTypes.upn)?.value;
    attributes = upn === undefined ? [] : [{ name: 'IDPEmail', values: [upn] }];
  } else {
    nameIdValue = i.claims.find((c) => c.type === ClaimTypes.nameIdentifier)?.value;
    const byType = new Map<string, Saml2Attribute>();
    for (const c of i.claims) {
      if (NOT_ATTRIBUTES.has(c.type)) continue;
      let attr = byType.get(c.type);
      if (attr === undefined) {
        attr = { name: c.type, nameFormat: ATTRNAME_FORMAT_URI, values: [] };
        byType.set(c.type, attr);
      }
      attr.values.push(c.value);
    }
    attributes = [...byType.values()];
  }
  // Entra ID keys the user on the NameID (ImmutableID): without it no token it accepts can be made. Any other
  // party gets a Subject without NameID, as AD FS issues it (issue 14 §8); the caller answers
  // InvalidNameIDPolicy instead when the request demanded a NameID format.
  if (m365 && (nameIdValue === undefined || nameIdValue === ''))
    throw issuanceFailed('claims step issued no ImmutableID claim for Microsoft 365');
  const lifetimeMs = i.rp.tokenLifetimeMinutes * 60_000;
  return {
    assertionId: i.assertionId,
    issuer,
    issueInstant: i.now,
    nameId:
      nameIdValue === undefined || nameIdValue === ''
        ? undefined
        : { value: nameIdValue, format: nameIdFormatFor(i.rp, i.claims) },
    subjectConfirmation: {
      recipient: i.acs,
      // SAML Profiles §4.1.4.2: a short bearer window (corpus B5.3: ≤ 5 minutes).
      notOnOrAfter: new Date(i.now.getTime() + Math.min(5 * 60_000, lifetimeMs)),
      inResponseTo: i.inResponseTo,
    },
    notBefore: i.now,
    notOnOrAfter: new Date(i.now.getTime() + lifetimeMs),
    audience: i.rp.identifier,
    attributes,
    authn: {
      instant: i.authInstant,
      sessionIndex: i.sessionIndex,
      contextClassRef:
        i.mfa === true
          ? AUTHN_CONTEXT_MULTIPLE_AUTHN
          : (CONTEXT_CLASS[i.authMethod] ?? AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT),
    },
  };
}
