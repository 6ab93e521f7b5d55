import { federatedIssuer } from '../claims/rule-sets.ts';
import type { Config } from '../config/schema.ts';
import { ROUTES } from '../http/routes.ts';
import type { SigningCredential } from '../keys/types.ts';
import { activeEndpoints } from '../protocols/wstrust/endpoints.ts';

/**
 * `fedgate tenant --mfa`: the domain's federatedIdpMfaBehavior (entra-protocol.md §4.1). accept: Entra takes
 * fedgate's multipleauthn claim when fedgate did a second factor and otherwise does its own MFA; enforce: the same,
 * but when Conditional Access needs MFA that fedgate did not do, Entra sends the user back to fedgate with
 * wauth=…multipleauthn; reject: Entra always does its own MFA.
 */
export const MFA_BEHAVIORS = Object.freeze({
  accept: 'acceptIfMfaDoneByFederatedIdp',
  enforce: 'enforceMfaByFederatedIdp',
  reject: 'rejectMfaByFederatedIdp',
} as const);

export type TenantMfaMode = keyof typeof MFA_BEHAVIORS;
export type FederatedIdpMfaBehavior = (typeof MFA_BEHAVIORS)[TenantMfaMode];

/** Absent flag: accept, what `fedgate tenant` printed before --mfa existed. */
export const DEFAULT_TENANT_MFA: TenantMfaMode = 'accept';

/** The mode named by `--mfa`, or undefined when the value is not one (exact, case-insensitive). */
export function tenantMfaMode(value: string): TenantMfaMode | undefined {
  const v = value.toLowerCase();
  return Object.hasOwn(MFA_BEHAVIORS, v) ? (v as TenantMfaMode) : undefined;
}

export interface TenantFederation {
  '@odata.type': '#microsoft.graph.internalDomainFederation';
  displayName: string;
  issuerUri: string;
  passiveSignInUri: string;
  /** Absent when every WS-Trust usernamemixed endpoint is switched off (config wstrust.endpoints). */
  activeSignInUri?: string;
  /** Absent when MEX is switched off. */
  metadataExchangeUri?: string;
  signOutUri: string;
  signingCertificate: string;
  preferredAuthenticationProtocol: 'wsFed';
  federatedIdpMfaBehavior: FederatedIdpMfaBehavior;
  promptLoginBehavior: 'translateToFreshPasswordAuthentication';
}

/**
 * The Issuer tokens for `domain` carry: with microsoft365.federatedDomains the issuerid rules give each domain its
 * own (entra-protocol.md §4.3); otherwise the configured issuer URI.
 */
function issuerUriFor(config: Config, domain: string | undefined): string {
  const perDomain =
    domain === undefined
      ? undefined
      : federatedIssuer(config.microsoft365.federatedDomains, domain);
  return perDomain ?? config.issuerUri;
}

/**
 * The tenant-side half of the trust (Microsoft Graph internalDomainFederation, entra-protocol.md §4.1), filled
 * from the running configuration. Endpoints keep AD FS's paths so a domain federated with AD FS can move over.
 * federatedIdpMfaBehavior from `--mfa` (MFA_BEHAVIORS).
 */
export function tenantFederation(
  config: Config,
  signing: SigningCredential,
  domain?: string,
  mfa: TenantMfaMode = DEFAULT_TENANT_MFA,
): TenantFederation {
  const base = config.publicUrl;
  const wsTrust = activeEndpoints(config);
  return {
    '@odata.type': '#microsoft.graph.internalDomainFederation',
    displayName: config.displayName,
    issuerUri: issuerUriFor(config, domain),
    passiveSignInUri: `${base}${ROUTES.passive}/`,
    // Only endpoints that are switched on (config wstrust.endpoints): Entra must not send clients to a 404.
    ...(wsTrust.active === undefined ? {} : { activeSignInUri: wsTrust.active }),
    ...(wsTrust.mex === undefined ? {} : { metadataExchangeUri: wsTrust.mex }),
    signOutUri: `${base}${ROUTES.passive}/?wa=wsignout1.0`,
    signingCertificate: signing.certificateBase64,
    preferredAuthenticationProtocol: 'wsFed',
    federatedIdpMfaBehavior: MFA_BEHAVIORS[mfa],
    promptLoginBehavior: 'translateToFreshPasswordAuthentication',
  };
}

const psQuote = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** What is wrong with federating `domain` from this configuration (shared by both protocol variants). */
function tenantWarnings(domain: string, config: Config): string[] {
  const warnings: string[] = [];
  const federated = config.microsoft365.federatedDomains;
  if (federated.length > 0 && federatedIssuer(federated, domain) === undefined)
    warnings.push(
      `${domain} is not in microsoft365.federatedDomains (${federated.join(', ')}): its users' tokens carry the Issuer ${config.issuerUri}; add it there and restart fedgate.`,
    );
  if (config.embeddedDefaults)
    warnings.push(
      'fedgate is running on embedded defaults (demo directory, generated keys): do not federate a real domain with it.',
    );
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(domain))
    warnings.push(`"${domain}" does not look like a verified custom domain name.`);
  if (/\.onmicrosoft\.com$/i.test(domain))
    warnings.push('the default *.onmicrosoft.com domain cannot be federated.');
  if (config.hostname === 'localhost')
    warnings.push(
      'hostname is localhost: Microsoft Entra ID must reach passiveSignInUri and the federation metadata from the internet.',
    );
  return warnings;
}

/** What the chosen federatedIdpMfaBehavior means for the tenant admin, and what it needs of fedgate. */
function mfaLines(mfa: TenantMfaMode, config: Config): string[] {
  const behavior = MFA_BEHAVIORS[mfa];
  const lines =
    mfa === 'accept'
      ? [
          `# MFA (--mfa accept, ${behavior}): Entra accepts fedgate's MFA when fedgate did a second factor; otherwise,`,
          '# when Conditional Access requires MFA, Entra does its own. --mfa enforce sends those users back to fedgate.',
        ]
      : mfa === 'enforce'
        ? [
            `# MFA (--mfa enforce, ${behavior}): when Conditional Access requires MFA that fedgate did not do, Entra`,
            '# sends the user back to fedgate asking for multipleauthn; fedgate must then do a second factor (docs/mfa.md).',
          ]
        : [
            `# MFA (--mfa reject, ${behavior}): Entra ignores fedgate's MFA and always does its own when Conditional`,
            '# Access requires MFA.',
          ];
  // enforce hands every MFA Entra wants to fedgate: with no method enabled those sign-ins cannot finish.
  if (mfa === 'enforce' && config.mfa.methods.length === 0)
    lines.push(
      '# WARNING: mfa.methods is empty: fedgate cannot do the second factor Entra will ask for, so those sign-ins fail.',
    );
  return lines;
}

function certificateLine(signing: SigningCredential): string {
  const days = Math.floor((signing.notAfter.getTime() - Date.now()) / 86_400_000);
  return `# Token-signing certificate: ${signing.subject}, thumbprint ${signing.thumbprintSha1}, expires ${signing.notAfter.toISOString()} (${days} days).`;
}

export function tenantInstructions(
  domain: string,
  config: Config,
  signing: SigningCredential,
  mfa: TenantMfaMode = DEFAULT_TENANT_MFA,
): string {
  const f = tenantFederation(config, signing, domain, mfa);
  const warnings = tenantWarnings(domain, config);
  const lines = [
    `# Federate ${domain} with fedgate (Microsoft Graph PowerShell).`,
    ...warnings.map((w) => `# WARNING: ${w}`),
    f.activeSignInUri === undefined
      ? '# WS-Trust usernamemixed is switched off (wstrust.endpoints): no ActiveSignInUri, so rich clients that need it cannot sign in.'
      : '# The WS-Trust endpoints (ActiveSignInUri, MEX) keep AD FS paths.',
    ...mfaLines(mfa, config),
    certificateLine(signing),
    '',
    'Connect-MgGraph -Scopes "Domain-InternalFederation.ReadWrite.All", "Domain.Read.All"',
    `$signingCertificate = ${psQuote(f.signingCertificate)}`,
    `New-MgDomainFederationConfiguration -DomainId ${psQuote(domain)} \``,
    `  -DisplayName ${psQuote(f.displayName)} \``,
    `  -IssuerUri ${psQuote(f.issuerUri)} \``,
    `  -PassiveSignInUri ${psQuote(f.passiveSignInUri)} \``,
    ...(f.activeSignInUri === undefined
      ? []
      : [`  -ActiveSignInUri ${psQuote(f.activeSignInUri)} \``]),
    ...(f.metadataExchangeUri === undefined
      ? []
      : [`  -MetadataExchangeUri ${psQuote(f.metadataExchangeUri)} \``]),
    `  -SignOutUri ${psQuote(f.signOutUri)} \``,
    `  -SigningCertificate $signingCertificate \``,
    `  -PreferredAuthenticationProtocol ${psQuote(f.preferredAuthenticationProtocol)} \``,
    `  -FederatedIdpMfaBehavior ${psQuote(f.federatedIdpMfaBehavior)} \``,
    `  -PromptLoginBehavior ${psQuote(f.promptLoginBehavior)}`,
    '',
    `# Or with Graph directly: POST https://graph.microsoft.com/v1.0/domains/${domain}/federationConfiguration`,
    JSON.stringify(f, null, 2),
    '',
  ];
  return lines.join('\n');
}

/** The SAML 2.0 variant of the tenant configuration (entra-protocol.md §2, §4.1): what Entra needs for SAML-P. */
export interface TenantSamlFederation {
  '@odata.type': '#microsoft.graph.internalDomainFederation';
  displayName: string;
  issuerUri: string;
  /** fedgate's SAML 2.0 SSO endpoint (AD FS's /adfs/ls/, HTTP-Redirect and HTTP-POST bindings). */
  passiveSignInUri: string;
  /** fedgate's SAML 2.0 single logout endpoint (the same /adfs/ls/): Entra sends its LogoutRequest here. */
  signOutUri: string;
  signingCertificate: string;
  preferredAuthenticationProtocol: 'saml';
  federatedIdpMfaBehavior: FederatedIdpMfaBehavior;
  promptLoginBehavior: 'translateToFreshPasswordAuthentication';
}

/**
 * The tenant-side half of a SAML 2.0 (SP-Lite) federation. No activeSignInUri / metadataExchangeUri: over SAML
 * Entra's active endpoint is a SAML ECP (PAOS) service, which fedgate does not have, so only browser sign-in
 * works (entra-protocol.md §2 "Not supported / limits"). promptLoginBehavior: Entra turns prompt=login into
 * ForceAuthn, which fedgate honours.
 */
export function tenantSamlFederation(
  config: Config,
  signing: SigningCredential,
  domain?: string,
  mfa: TenantMfaMode = DEFAULT_TENANT_MFA,
): TenantSamlFederation {
  const base = config.publicUrl;
  return {
    '@odata.type': '#microsoft.graph.internalDomainFederation',
    displayName: config.displayName,
    issuerUri: issuerUriFor(config, domain),
    passiveSignInUri: `${base}${ROUTES.passive}/`,
    signOutUri: `${base}${ROUTES.passive}/`,
    signingCertificate: signing.certificateBase64,
    preferredAuthenticationProtocol: 'saml',
    federatedIdpMfaBehavior: MFA_BEHAVIORS[mfa],
    promptLoginBehavior: 'translateToFreshPasswordAuthentication',
  };
}

/** Entra's SAML 2.0 SP metadata (entra-protocol.md §2): its signing certificate checks signed requests. */
export const ENTRA_SAML_METADATA_URL =
  'https://nexus.microsoftonline-p.com/federationmetadata/saml20/federationmetadata.xml';

export function tenantSamlInstructions(
  domain: string,
  config: Config,
  signing: SigningCredential,
  mfa: TenantMfaMode = DEFAULT_TENANT_MFA,
): string {
  const f = tenantSamlFederation(config, signing, domain, mfa);
  const lines = [
    `# Federate ${domain} with fedgate over SAML 2.0 (SAML-P; Microsoft Graph PowerShell).`,
    ...tenantWarnings(domain, config).map((w) => `# WARNING: ${w}`),
    '# Entra sends AuthnRequests to PassiveSignInUri and gets a signed assertion: NameID persistent = ImmutableID, IDPEmail = UPN.',
    '# No ActiveSignInUri or MetadataExchangeUri: fedgate has no SAML ECP endpoint, so over SAML only browser sign-in',
    '# works; rich clients without modern authentication need the WS-Federation variant (fedgate tenant without --protocol).',
    "# SignOutUri is fedgate's SAML single logout endpoint. fedgate accepts only signed LogoutRequests, checked with the",
    `# certificate from Entra's SAML metadata: fedgate rp add --metadata ${ENTRA_SAML_METADATA_URL}`,
    ...mfaLines(mfa, config),
    certificateLine(signing),
    '',
    'Connect-MgGraph -Scopes "Domain-InternalFederation.ReadWrite.All", "Domain.Read.All"',
    `$signingCertificate = ${psQuote(f.signingCertificate)}`,
    `New-MgDomainFederationConfiguration -DomainId ${psQuote(domain)} \``,
    `  -DisplayName ${psQuote(f.displayName)} \``,
    `  -IssuerUri ${psQuote(f.issuerUri)} \``,
    `  -PassiveSignInUri ${psQuote(f.passiveSignInUri)} \``,
    `  -SignOutUri ${psQuote(f.signOutUri)} \``,
    `  -SigningCertificate $signingCertificate \``,
    `  -PreferredAuthenticationProtocol ${psQuote(f.preferredAuthenticationProtocol)} \``,
    `  -FederatedIdpMfaBehavior ${psQuote(f.federatedIdpMfaBehavior)} \``,
    `  -PromptLoginBehavior ${psQuote(f.promptLoginBehavior)}`,
    '',
    '# A domain that is already federated: Update-MgDomainFederationConfiguration with the same parameters and',
    `#   -InternalDomainFederationId (Get-MgDomainFederationConfiguration -DomainId ${psQuote(domain)}).Id`,
    `# Or with Graph directly: POST https://graph.microsoft.com/v1.0/domains/${domain}/federationConfiguration`,
    JSON.stringify(f, null, 2),
    '',
  ];
  return lines.join('\n');
}
