import { decodePowerShellText } from '../lib/powershell-text.ts';
import { X509Certificate, createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import { federatedIssuer } from '../claims/rule-sets.ts';
import type { Config } from '../config/schema.ts';
import { ROUTES } from '../http/routes.ts';
import type { SigningCertificate, SigningCredential } from '../keys/types.ts';
import {
  nextSigningCertificateCommand,
  signingCertificateCommand,
} from '../keys/tenant-command.ts';
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
  /** The next key's certificate while the ring has one (issue 18): Entra accepts tokens signed by either. */
  nextSigningCertificate?: string;
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
  next?: SigningCertificate,
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
    ...(next === undefined ? {} : { nextSigningCertificate: next.certificateBase64 }),
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

/** The ring's next key as `fedgate tenant` shows it: its certificate and when it is due to sign. */
export interface TenantNextKey {
  certificate: SigningCertificate;
  /** When the schedule promotes it (keys.rollover); absent when not known. */
  promotionAt?: Date | undefined;
}

/**
 * The one-line Graph PowerShell updates of an already federated domain (entra-protocol §4.2): the next certificate
 * now, and the signing certificate after the promotion, for tenants that do not follow the federation metadata.
 */
function nextKeyLines(
  domain: string,
  signing: SigningCertificate,
  next: TenantNextKey | undefined,
): string[] {
  if (next === undefined)
    return [
      '# A domain already federated with another certificate takes this one with:',
      `#   ${signingCertificateCommand(signing.certificateBase64, domain)}`,
    ];
  const c = next.certificate;
  const when =
    next.promotionAt === undefined
      ? 'at its promotion'
      : `on ${next.promotionAt.toISOString()} (keys.rollover), or at \`fedgate keys promote\``;
  return [
    `# Next token-signing certificate: ${c.subject.replace(/\n/g, ', ')}, thumbprint ${c.thumbprintSha1}, valid ${c.notBefore.toISOString()} to ${c.notAfter.toISOString()};`,
    `# it starts signing ${when}. It is in the federation metadata and in nextSigningCertificate below.`,
    '# A domain that is already federated takes it now with:',
    `#   ${nextSigningCertificateCommand(c.certificateBase64, domain)}`,
    '# After the promotion, if the tenant did not pick it up (Get-MgDomainFederationConfiguration shows the old signingCertificate):',
    `#   ${signingCertificateCommand(c.certificateBase64, domain)}`,
  ];
}

export function tenantInstructions(
  domain: string,
  config: Config,
  signing: SigningCredential,
  mfa: TenantMfaMode = DEFAULT_TENANT_MFA,
  next?: TenantNextKey,
): string {
  const f = tenantFederation(config, signing, domain, mfa, next?.certificate);
  const warnings = tenantWarnings(domain, config);
  const lines = [
    `# Federate ${domain} with fedgate (Microsoft Graph PowerShell).`,
    ...warnings.map((w) => `# WARNING: ${w}`),
    f.activeSignInUri === undefined
      ? '# WS-Trust usernamemixed is switched off (wstrust.endpoints): no ActiveSignInUri, so rich clients that need it cannot sign in.'
      : '# The WS-Trust endpoints (ActiveSignInUri, MEX) keep AD FS paths.',
    ...mfaLines(mfa, config),
    certificateLine(signing),
    ...nextKeyLines(domain, signing, next),
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
    ...(f.nextSigningCertificate === undefined
      ? []
      : [`  -NextSigningCertificate ${psQuote(f.nextSigningCertificate)} \``]),
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
  nextSigningCertificate?: string;
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
  next?: SigningCertificate,
): TenantSamlFederation {
  const base = config.publicUrl;
  return {
    '@odata.type': '#microsoft.graph.internalDomainFederation',
    displayName: config.displayName,
    issuerUri: issuerUriFor(config, domain),
    passiveSignInUri: `${base}${ROUTES.passive}/`,
    signOutUri: `${base}${ROUTES.passive}/`,
    signingCertificate: signing.certificateBase64,
    ...(next === undefined ? {} : { nextSigningCertificate: next.certificateBase64 }),
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
  next?: TenantNextKey,
): string {
  const f = tenantSamlFederation(config, signing, domain, mfa, next?.certificate);
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
    ...nextKeyLines(domain, signing, next),
    '',
    'Connect-MgGraph -Scopes "Domain-InternalFederation.ReadWrite.All", "Domain.Read.All"',
    `$signingCertificate = ${psQuote(f.signingCertificate)}`,
    `New-MgDomainFederationConfiguration -DomainId ${psQuote(domain)} \``,
    `  -DisplayName ${psQuote(f.displayName)} \``,
    `  -IssuerUri ${psQuote(f.issuerUri)} \``,
    `  -PassiveSignInUri ${psQuote(f.passiveSignInUri)} \``,
    `  -SignOutUri ${psQuote(f.signOutUri)} \``,
    `  -SigningCertificate $signingCertificate \``,
    ...(f.nextSigningCertificate === undefined
      ? []
      : [`  -NextSigningCertificate ${psQuote(f.nextSigningCertificate)} \``]),
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

// ---------------------------------------------------------------------------------------------------------
// `fedgate tenant --current-tenant-json FILE`: what the tenant has now, compared with fedgate (issue 18).

/** A federation configuration is a few KB (two certificates, some URIs); anything bigger is refused unread. */
export const MAX_TENANT_JSON_BYTES = 1024 * 1024;

/** The file is not the JSON of one federation configuration (exit 2, nothing else happens). */
export class TenantJsonError extends Error {
  override readonly name = 'TenantJsonError';
}

/** Reads the file (at most MAX_TENANT_JSON_BYTES) and returns its one federation configuration object. */
export async function readTenantJson(file: string): Promise<Record<string, unknown>> {
  let fh;
  try {
    fh = await open(file, fsConstants.O_RDONLY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TenantJsonError(
      `${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${String(code)})`}`,
    );
  }
  let buf: Buffer;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new TenantJsonError(`${file} is not a regular file`);
    if (st.size > MAX_TENANT_JSON_BYTES)
      throw new TenantJsonError(
        `${file} is ${String(st.size)} bytes; a federation configuration is a few KB (at most ${String(MAX_TENANT_JSON_BYTES)} are read)`,
      );
    buf = await fh.readFile();
  } finally {
    await fh.close();
  }
  return parseTenantJson(buf, file);
}

export function parseTenantJson(buf: Buffer, file = 'the tenant JSON'): Record<string, unknown> {
  let json: unknown;
  try {
    // The text as PowerShell saved it (lib/powershell-text.ts); bytes that are no text fail like bad JSON.
    json = JSON.parse(decodePowerShellText(buf) ?? '');
  } catch {
    throw new TenantJsonError(
      `${file} is not JSON: save the output of Get-MgDomainFederationConfiguration -DomainId DOMAIN | ConvertTo-Json`,
    );
  }
  // ConvertTo-Json writes an array when the cmdlet returned several objects (or was wrapped in @()).
  if (Array.isArray(json)) {
    if (json.length !== 1)
      throw new TenantJsonError(
        `${file} holds ${String(json.length)} federation configurations; save the one of the domain (Get-MgDomainFederationConfiguration -DomainId DOMAIN)`,
      );
    json = json[0];
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new TenantJsonError(`${file} is not a federation configuration object`);
  // Graph's JSON is camelCase (signingCertificate), the PowerShell object's properties PascalCase
  // (SigningCertificate): both are read, case-insensitively.
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json as Record<string, unknown>)) out[k.toLowerCase()] = v;
  if (!('signingcertificate' in out) && !('issueruri' in out))
    throw new TenantJsonError(
      `${file} has neither signingCertificate nor issuerUri: it is not the output of Get-MgDomainFederationConfiguration`,
    );
  return out;
}

/** Where the tenant has one of fedgate's certificates. */
export type TenantCertificatePlace = 'signingCertificate' | 'nextSigningCertificate' | undefined;

export interface TenantFieldCheck {
  field: string;
  tenant: string | undefined;
  fedgate: string | undefined;
  matches: boolean;
}

export interface TenantComparison {
  tenantSigning: { thumbprint: string; notAfter: string } | undefined;
  tenantNext: { thumbprint: string; notAfter: string } | undefined;
  primary: { thumbprint: string; inTenant: TenantCertificatePlace };
  next: { thumbprint: string; inTenant: TenantCertificatePlace } | undefined;
  fields: TenantFieldCheck[];
  /** True when nothing needs doing: the tenant has the primary (and the next, if any) and every field matches. */
  upToDate: boolean;
}

/** The DER of a base64 certificate from the tenant (whitespace ignored), or undefined when it is not one. */
function tenantCertificate(
  v: unknown,
): { der: Buffer; thumbprint: string; notAfter: string } | undefined {
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const b64 = v.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) return undefined;
  const der = Buffer.from(b64, 'base64');
  try {
    const x = new X509Certificate(der);
    return {
      der,
      thumbprint: createHash('sha1').update(x.raw).digest('hex').toUpperCase(),
      notAfter: new Date(x.validTo).toISOString(),
    };
  } catch {
    return undefined;
  }
}

const URI_FIELDS = [
  'issuerUri',
  'passiveSignInUri',
  'activeSignInUri',
  'metadataExchangeUri',
  'signOutUri',
] as const;
/** Enumerations: Graph and PowerShell agree on the spelling, but case is not significant to Entra. */
const ENUM_FIELDS = [
  'preferredAuthenticationProtocol',
  'federatedIdpMfaBehavior',
  'promptLoginBehavior',
] as const;

/** What the tenant has (parseTenantJson) against what fedgate would set (tenantFederation / tenantSamlFederation). */
export function compareTenant(
  current: Record<string, unknown>,
  expected: TenantFederation | TenantSamlFederation,
  primary: SigningCertificate,
  next: SigningCertificate | undefined,
): TenantComparison {
  const ts = tenantCertificate(current.signingcertificate);
  const tn = tenantCertificate(current.nextsigningcertificate);
  const place = (c: SigningCertificate): TenantCertificatePlace => {
    const der = Buffer.from(c.certificateBase64, 'base64');
    if (ts?.der.equals(der) === true) return 'signingCertificate';
    if (tn?.der.equals(der) === true) return 'nextSigningCertificate';
    return undefined;
  };
  const str = (v: unknown): string | undefined =>
    typeof v === 'string' && v !== '' ? v : undefined;
  const e = expected as unknown as Record<string, string | undefined>;
  const fields: TenantFieldCheck[] = [
    ...URI_FIELDS.map((f) => {
      const t = str(current[f.toLowerCase()]);
      return { field: f, tenant: t, fedgate: e[f], matches: t === e[f] };
    }),
    ...ENUM_FIELDS.map((f) => {
      const t = str(current[f.toLowerCase()]);
      return {
        field: f,
        tenant: t,
        fedgate: e[f],
        matches: t?.toLowerCase() === e[f]?.toLowerCase(),
      };
    }),
  ];
  const p = { thumbprint: primary.thumbprintSha1, inTenant: place(primary) };
  const n =
    next === undefined ? undefined : { thumbprint: next.thumbprintSha1, inTenant: place(next) };
  return {
    tenantSigning:
      ts === undefined ? undefined : { thumbprint: ts.thumbprint, notAfter: ts.notAfter },
    tenantNext: tn === undefined ? undefined : { thumbprint: tn.thumbprint, notAfter: tn.notAfter },
    primary: p,
    next: n,
    fields,
    upToDate:
      p.inTenant !== undefined &&
      (n === undefined || n.inTenant !== undefined) &&
      fields.every((f) => f.matches),
  };
}

/** The comparison in plain words, with the one line that fixes each certificate problem. */
export function renderTenantComparison(
  c: TenantComparison,
  domain: string,
  file: string,
  primary: SigningCertificate,
  next: TenantNextKey | undefined,
): string {
  const lines = [
    `# ${domain}: the tenant's federation configuration (${file}) compared with this fedgate.`,
  ];
  const has = (t: { thumbprint: string; notAfter: string } | undefined): string =>
    t === undefined ? 'none' : `${t.thumbprint} (expires ${t.notAfter})`;
  lines.push(
    `# The tenant has signingCertificate ${has(c.tenantSigning)}, nextSigningCertificate ${has(c.tenantNext)}.`,
  );
  if (c.primary.inTenant !== undefined) {
    lines.push(
      `OK: the tenant already has the current token-signing certificate ${c.primary.thumbprint} (as ${c.primary.inTenant}).`,
    );
  } else {
    lines.push(
      `NOT OK: the tenant does not have the current token-signing certificate ${c.primary.thumbprint}: Entra ID rejects the tokens fedgate signs for ${domain}. Run:`,
      `  ${signingCertificateCommand(primary.certificateBase64, domain)}`,
    );
  }
  if (c.next !== undefined && next !== undefined) {
    const when =
      next.promotionAt === undefined
        ? ''
        : `it starts signing on ${next.promotionAt.toISOString()}`;
    if (c.next.inTenant !== undefined) {
      lines.push(
        `OK: the tenant already has the next certificate ${c.next.thumbprint} (as ${c.next.inTenant}${when === '' ? '' : `; ${when}`}).`,
      );
    } else {
      lines.push(
        `NOT YET: the tenant does not have the next certificate ${c.next.thumbprint}${when === '' ? '' : ` (${when})`}. Entra ID may read it from the federation metadata; to be sure, run:`,
        `  ${nextSigningCertificateCommand(next.certificate.certificateBase64, domain)}`,
      );
    }
  } else {
    lines.push('fedgate has no next key now (`fedgate keys list` shows when one is generated).');
  }
  const wrong = c.fields.filter((f) => !f.matches);
  if (wrong.length === 0) {
    lines.push(`OK: ${c.fields.map((f) => f.field).join(', ')} match fedgate's configuration.`);
  } else {
    lines.push('DIFFERENT: these settings do not match what fedgate would set:');
    for (const f of wrong)
      lines.push(
        `  ${f.field}: the tenant has ${f.tenant === undefined ? 'none' : `"${f.tenant}"`}, fedgate ${f.fedgate === undefined ? 'has none' : `"${f.fedgate}"`}`,
      );
    lines.push(
      '  (Update-MgDomainFederationConfiguration with the parameters `fedgate tenant --domain` prints, plus -InternalDomainFederationId, sets them.)',
    );
  }
  lines.push(c.upToDate ? 'Nothing to do.' : 'Action needed: see above.');
  return `${lines.join('\n')}\n`;
}
