import { ClaimTypes, NameIdFormatProperty, type ClaimSet } from '../claims/types.ts';
import { issuanceFailed } from '../lib/errors.ts';
import type { Saml11AssertionModel, Saml11Attribute } from './types.ts';

/**
 * SAML 1.1 AuthenticationMethod for an AD FS authentication method claim (entra-protocol.md §1.5: AD FS maps
 * password to urn:oasis:names:tc:SAML:1.0:am:password).
 */
const SAML11_AUTH_METHOD: Record<string, string> = {
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password':
    'urn:oasis:names:tc:SAML:1.0:am:password',
};

/** Claim types that shape the token rather than travel in it. */
const NOT_ATTRIBUTES = new Set<string>([ClaimTypes.nameIdentifier, ClaimTypes.issuerId]);

export interface AssertionInput {
  claims: ClaimSet;
  assertionId: string;
  issuer: string;
  audience: string;
  now: Date;
  lifetimeMinutes: number;
  authMethod: string;
  authInstant: Date;
  /**
   * The party cannot take a token without NameIdentifier: Entra ID keys the user on it (the ImmutableID). Then a
   * missing one is an audited issuance_failed rather than a token Entra refuses.
   */
  requireNameIdentifier?: boolean;
}

/**
 * Claims → SAML 1.1 model, serialised the way WIF/AD FS do: a claim type splits at its last '/' into
 * AttributeNamespace and AttributeName; values of one type become one Attribute with several values; the
 * nameidentifier claim becomes the Subject's NameIdentifier (its format property the Format); an issuerid
 * claim overrides the Issuer (multi-domain federation, entra-protocol.md §4.3).
 */
export function toSaml11Model(input: AssertionInput): Saml11AssertionModel {
  // No nameidentifier claim (rule sets keyed on UPN or e-mail, e.g. SharePoint's): the Subject carries only its
  // SubjectConfirmation, as AD FS issues it (issue 14 §8).
  // An empty value names no one: treated as no claim. An empty format property as none (unspecified).
  const nameId = input.claims.find((c) => c.type === ClaimTypes.nameIdentifier && c.value !== '');
  if (nameId === undefined && input.requireNameIdentifier === true)
    throw issuanceFailed(
      'claims step issued no ImmutableID (nameidentifier) claim for Microsoft 365',
    );
  const issuer = input.claims.find((c) => c.type === ClaimTypes.issuerId)?.value ?? input.issuer;
  const byType = new Map<string, Saml11Attribute>();
  for (const c of input.claims) {
    if (NOT_ATTRIBUTES.has(c.type)) continue;
    const cut = c.type.lastIndexOf('/');
    if (cut <= 0 || cut === c.type.length - 1) continue; // not serialisable in SAML 1.1 (AD FS drops these too)
    let attr = byType.get(c.type);
    if (attr === undefined) {
      attr = { namespace: c.type.slice(0, cut), name: c.type.slice(cut + 1), values: [] };
      byType.set(c.type, attr);
    }
    attr.values.push(c.value);
  }
  const method = SAML11_AUTH_METHOD[input.authMethod] ?? input.authMethod;
  return {
    assertionId: input.assertionId,
    issuer,
    issueInstant: input.now,
    notBefore: input.now,
    notOnOrAfter: new Date(input.now.getTime() + input.lifetimeMinutes * 60_000),
    audience: input.audience,
    nameIdentifier:
      nameId === undefined
        ? undefined
        : { value: nameId.value, format: nameId.properties?.[NameIdFormatProperty] || undefined },
    attributes: [...byType.values()],
    authentication: { method, instant: input.authInstant },
  };
}
