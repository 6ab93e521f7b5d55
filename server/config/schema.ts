import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * The configuration schema. Key names are a public contract (tooling outside the project relies on
 * them): change them only with a migration note. docs/configuration.md documents every key.
 */

const tlsFiles = z.strictObject({
  /** PEM certificate (chain) file for the HTTPS listener. */
  cert: z.string().min(1),
  /** PEM private key file for the HTTPS listener. */
  key: z.string().min(1),
});

/** A trusted proxy: an IP address, a CIDR range, or one of Express's range names (loopback, linklocal, uniquelocal). */
const proxyEntry = z
  .string()
  .min(1)
  .refine(
    (v) => isProxyEntry(v),
    'must be an IP address, a CIDR range, or loopback / linklocal / uniquelocal',
  );

function isProxyEntry(raw: string): boolean {
  const v = raw.trim();
  if (['loopback', 'linklocal', 'uniquelocal'].includes(v.toLowerCase())) return true;
  const slash = v.indexOf('/');
  const addr = slash < 0 ? v : v.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return false;
  if (slash < 0) return true;
  const prefix = v.slice(slash + 1);
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}
export const listenSchema = z.strictObject({
  /** TCP port of the main listener. */
  port: z.coerce.number().int().min(0).max(65535).default(8443),
  /** Address to bind; default all interfaces. */
  host: z.string().default('0.0.0.0'),
  /**
   * `generate`: self-signed certificate for the hostname, made on first run and kept in keys.dir;
   * `off`: plain HTTP (TLS ends at a load balancer); or `{ cert, key }` files.
   */
  tls: z.union([z.literal('generate'), z.literal('off'), tlsFiles]).default('generate'),
  /**
   * Addresses (IP or CIDR) of load balancers / reverse proxies whose X-Forwarded-For and
   * X-Forwarded-Proto headers are believed, or the range names loopback, linklocal, uniquelocal. Headers from
   * anyone else are ignored.
   */
  trustedProxies: z.array(proxyEntry).default([]),
});

const days = (d: number) => z.coerce.number().min(0).max(3650).default(d);
export const rolloverSchema = z.strictObject({
  /** Automatic rollover in the server (AD FS AutoCertificateRollover); needs a writable keys.dir. */
  auto: z.boolean().default(true),
  /** Days before the primary expires that the next key is generated and published (AD FS 20). */
  generationThresholdDays: days(20),
  /** Days after the next key was added that it becomes the primary (AD FS 5). */
  promotionThresholdDays: days(5),
  /** Validity of a generated certificate, days (AD FS 365). */
  durationDays: z.coerce.number().min(30).max(3650).default(365),
  /** Days before expiry at which a next key is generated and promoted at once (AD FS 2). */
  criticalThresholdDays: days(2),
  /** Days a replaced primary stays in the federation metadata (or until it expires). */
  gracePeriodDays: days(7),
  /** How often the server checks whether a step is due, minutes (AD FS 720). */
  checkIntervalMinutes: z.coerce.number().int().min(1).max(10080).default(720),
});

export const pkcs11Schema = z
  .strictObject({
    /** Path of the PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so; a Luna or nShield module). */
    module: z.string().min(1),
    /** Token label (preferred), or the slot index. */
    tokenLabel: z.string().min(1).optional(),
    slot: z.coerce.number().int().min(0).optional(),
    /** The user PIN, or a file holding it (a mounted secret). */
    pin: z.string().min(1).optional(),
    pinFile: z.string().min(1).optional(),
  })
  .refine((p) => (p.tokenLabel === undefined) !== (p.slot === undefined), {
    message: 'give tokenLabel or slot (one of them)',
  })
  .refine((p) => (p.pin === undefined) !== (p.pinFile === undefined), {
    message: 'give pin or pinFile (one of them)',
  });

export const keysSchema = z
  .strictObject({
    /** Directory for key material (token-signing ring, self-signed TLS, farm secrets). Mode 0700. */
    dir: z.string().default('./keys'),
    /** Use an existing token-signing key pair (admin-managed: fedgate reloads it but never rolls it over). */
    signing: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    /** Passphrase of encrypted PKCS#8 key files; generated keys are then written encrypted. Or passphraseFile. */
    passphrase: z.string().min(16, 'must be at least 16 characters').optional(),
    passphraseFile: z.string().min(1).optional(),
    /** Token-signing keys in a PKCS#11 HSM: generated and used inside it, never read out. */
    pkcs11: pkcs11Schema.optional(),
    /** Token-signing certificate rollover (AD FS's thresholds). */
    rollover: rolloverSchema.default(rolloverSchema.parse({})),
    /** How often each node looks for changed key files (a rollover on another node, an import), seconds. */
    reloadIntervalSeconds: z.coerce.number().int().min(1).max(3600).default(30),
  })
  .refine((k) => k.passphrase === undefined || k.passphraseFile === undefined, {
    message: 'give passphrase or passphraseFile, not both',
  });

export const ldapDirectorySchema = z.strictObject({
  kind: z.literal('ldap'),
  /** Domain controllers, tried in order; ldaps:// only (simple binds over plain LDAP are refused). */
  urls: z
    .array(
      z
        .string()
        .regex(
          /^ldaps:\/\/[^\s/]+\/?$/i,
          'must be an ldaps:// URL (host[:port]); plain ldap:// is refused',
        ),
    )
    .min(1),
  /** Search base for users. */
  baseDn: z.string().min(1),
  /** Service account used for searches (never for password checks). */
  bindDn: z.string().min(1),
  bindPassword: z.string().min(1),
  /** NetBIOS name of the domain (CORP in CORP\jdoe). */
  netbiosDomain: z.string().min(1).max(15),
  /** UPN suffixes accepted in user@suffix sign-in names; default: any. */
  upnSuffixes: z.array(z.string().min(1)).default([]),
  tls: z
    .strictObject({
      /** PEM CA bundle that issued the DCs' certificates. Certificate checks are never switched off. */
      ca: z.string().min(1).optional(),
      /** Expected server name when the URL host is an address. */
      servername: z.string().min(1).optional(),
    })
    .default({}),
  /** TCP+TLS connect timeout per DC, milliseconds. */
  connectTimeoutMs: z.coerce.number().int().min(100).max(60_000).default(3000),
  /** Per-operation (search/bind) timeout, milliseconds. */
  timeoutMs: z.coerce.number().int().min(100).max(60_000).default(5000),
  /** Pooled LDAPS connections per DC used for password binds. */
  poolSize: z.coerce.number().int().min(1).max(64).default(8),
  /**
   * Load shedding (corpus E9): the longest a password bind may wait for a free pooled connection, ms. A sign-in
   * that would wait longer is answered 503 at once instead of queueing behind a slow DC.
   */
  maxQueueWaitMs: z.coerce.number().int().min(0).max(60_000).default(2000),
  /**
   * The directory cache (docs/directory-cache.md): the group graph and recently signed-in users kept in memory and
   * current through AD's change tracking (uSNChanged), so a warm sign-in costs the DC one bind.
   */
  cache: z
    .strictObject({
      /**
       * Longest time, in seconds, a cached answer may lag AD; 0 turns the cache off. Beyond it (tracking lost, a
       * resync running) every read goes to the DC until tracking catches up.
       */
      maxStalenessSeconds: z.coerce.number().min(0).max(300).default(5),
      /** Most users kept (least recently used dropped first); about 3 KB of heap each. */
      maxUsers: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
      /**
       * Seconds between deletion checks: AD hides deleted objects from accounts without rights on CN=Deleted Objects,
       * so deleted groups are found by listing the groups' objectGUIDs this often. Default: maxStalenessSeconds.
       */
      deletionCheckSeconds: z.coerce.number().min(1).max(3600).optional(),
    })
    .default({ maxStalenessSeconds: 5, maxUsers: 20_000 }),
});

export const embeddedDirectorySchema = z.strictObject({
  kind: z.literal('embedded'),
  /** YAML or JSON file of users; default: the bundled demo directory. */
  file: z.string().min(1).optional(),
  netbiosDomain: z.string().min(1).max(15).default('FEDGATE'),
});

export const directorySchema = z.discriminatedUnion('kind', [
  ldapDirectorySchema,
  embeddedDirectorySchema,
]);

const redisNode = z.strictObject({
  host: z.string().min(1),
  port: z.coerce.number().int().min(1).max(65535).default(26379),
});

export const redisStoreSchema = z.strictObject({
  kind: z.literal('redis'),
  /**
   * redis://[user:password@]host:port[/db] or rediss:// (TLS). With `sentinel`, only the credentials and db
   * of the URL are used. Prefer FEDGATE_STORE__URL (or `password`) to keep the password out of the file.
   */
  url: z.string().regex(/^rediss?:\/\/[^\s]+$/i, 'must be a redis:// or rediss:// URL'),
  /** ACL user name (overrides the URL's). */
  username: z.string().min(1).optional(),
  /** AUTH password (overrides the URL's). */
  password: z.string().min(1).optional(),
  /** Prefix of every key fedgate writes, so one Redis can serve several farms. */
  keyPrefix: z.string().max(64).default('fedgate:'),
  tls: z
    .strictObject({
      /** PEM CA bundle that issued the Redis server certificate. Certificate checks are never switched off. */
      ca: z.string().min(1).optional(),
      /** Client certificate and key (PEM) when Redis requires TLS client authentication. */
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
      /** Expected server name when the URL host is an address. */
      servername: z.string().min(1).optional(),
    })
    .optional(),
  /** Redis Sentinel: the master set name and some sentinels; the client follows failovers. */
  sentinel: z
    .strictObject({
      name: z.string().min(1),
      nodes: z.array(redisNode).min(1),
    })
    .optional(),
  /** TCP (+TLS) connect timeout, milliseconds. */
  connectTimeoutMs: z.coerce.number().int().min(50).max(60_000).default(2000),
  /** A command that gets no answer in this time fails (the request then gets a 503, never a hang). */
  commandTimeoutMs: z.coerce.number().int().min(50).max(60_000).default(2000),
});

export const storeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('memory') }),
  redisStoreSchema,
]);

export const mfaPresetSchema = z.union([
  z.strictObject({ kind: z.literal('everyone') }),
  z.strictObject({ kind: z.literal('extranet') }),
  z.strictObject({ kind: z.literal('unregistered-networks') }),
  z.strictObject({
    kind: z.literal('group'),
    /** The group: its SID (S-1-5-21-…), sAMAccountName or DOMAIN\\name (resolved to its SID at start). */
    group: z.string().min(1).max(300),
  }),
]);

/**
 * A trust's multi-factor policy (issue 16; AD FS AdditionalAuthenticationRules and 2016 access control policies).
 * Any source that asks requires MFA; the global ones (mfa.*) apply to every trust as well.
 */
export const trustMfaSchema = z.strictObject({
  /** AD FS AdditionalAuthenticationRules for this trust (claim rule language), relative to the config file. */
  additionalAuthenticationRulesFile: z.string().min(1).optional(),
  /** AD FS 2016 access-control-policy presets that require MFA (see mfa.accessControlPolicies). */
  accessControlPolicies: z.array(mfaPresetSchema).default([]),
});

/** A link on the pages: https, http or mailto only (never javascript:, never a relative path). */
const pageLink = z
  .string()
  .max(2048)
  .refine(
    (v) => /^(https?:\/\/[^\s]+|mailto:[^\s]+)$/i.test(v),
    'must be an https://, http:// or mailto: link',
  );
const pageText = z.string().min(1).max(2000);

/**
 * AD FS's web content (Set-AdfsGlobalWebContent / Set-AdfsRelyingPartyWebContent), shown as plain text (never
 * HTML). Names are AD FS's parameter names in camelCase, so `fedgate theme import` maps them one to one.
 */
const webContentFields = {
  companyName: z.string().min(1).max(256).optional(),
  helpDeskLink: pageLink.optional(),
  helpDeskLinkText: pageText.optional(),
  homeLink: pageLink.optional(),
  homeLinkText: pageText.optional(),
  privacyLink: pageLink.optional(),
  privacyLinkText: pageText.optional(),
  signInPageDescriptionText: pageText.optional(),
  signOutPageDescriptionText: pageText.optional(),
  errorPageDescriptionText: pageText.optional(),
  errorPageGenericErrorMessage: pageText.optional(),
  errorPageAuthorizationErrorMessage: pageText.optional(),
  errorPageDeviceAuthenticationErrorMessage: pageText.optional(),
  errorPageSupportEmail: z.email().max(320).optional(),
  updatePasswordPageDescriptionText: pageText.optional(),
  signInPageAdditionalAuthenticationDescriptionText: pageText.optional(),
  certificatePageDescriptionText: pageText.optional(),
  homeRealmDiscoveryPageDescriptionText: pageText.optional(),
  homeRealmDiscoveryOtherOrganizationDescriptionText: pageText.optional(),
  organizationalNameDescriptionText: pageText.optional(),
};
export const WEB_CONTENT_FIELDS = Object.keys(
  webContentFields,
) as (keyof typeof webContentFields)[];
const localeKey = z
  .string()
  .regex(
    /^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}$/,
    'must be a language tag such as de or de-AT',
  );
const webContentTexts = z.strictObject(webContentFields);
export const webContentSchema = z.strictObject({
  ...webContentFields,
  /** The same texts per language (a tag such as de or de-AT): they win over the invariant ones above. */
  locales: z.record(localeKey, webContentTexts).default({}),
});

/**
 * The organisation's look and words on every page a person sees (issue 17): AD FS's web theme and web content,
 * the languages, and the sign-in flow's options.
 */
export const brandingSchema = z.strictObject({
  /** The language of last resort (after the user's choice, the relying party's hint and Accept-Language). */
  defaultLocale: localeKey.default('en'),
  /** The languages offered in the page's language picker (default: every catalogue there is). Empty: no picker. */
  languages: z.array(localeKey).optional(),
  /** A folder of extra catalogues `<lang>.json`, relative to the config file: new languages, or replaced texts. */
  catalogueDir: z.string().min(1).optional(),
  /**
   * A folder of web themes, one sub-folder each (the layout Export-AdfsWebTheme writes: css/style.css,
   * css/style.rtl.css, logo/, illustration/), relative to the config file.
   */
  themesDir: z.string().min(1).optional(),
  /** The active theme: `default` (shipped) or a sub-folder of themesDir. `fedgate theme use` switches a farm live. */
  theme: z.string().min(1).max(64).default('default'),
  /** AD FS global web content. */
  webContent: webContentSchema.default({ locales: {} }),
  signIn: z
    .strictObject({
      /** AD FS 2019 paginated sign-in: the user name first, then the methods that user can use. */
      paginated: z.boolean().default(false),
      /** AD FS "Keep me signed in" (persistent SSO, the psso claim): a box on the sign-in page. Off by default, as AD FS. */
      keepMeSignedIn: z.boolean().default(false),
      /** How long a kept sign-in lasts, hours (AD FS KmsiLifetimeMins default 1440 = 24 h). */
      keepMeSignedInHours: z.coerce.number().int().min(1).max(2160).default(24),
    })
    .default({ paginated: false, keepMeSignedIn: false, keepMeSignedInHours: 24 }),
});

/** A trust's own web content and theme (Set-AdfsRelyingPartyWebContent / Set-AdfsRelyingPartyWebTheme). */
export const trustBrandingFields = {
  /** This party's texts (AD FS relying-party web content; sign-out and update-password texts stay global). */
  webContent: webContentSchema.optional(),
  /** This party's theme: a sub-folder of branding.themesDir. */
  webTheme: z.string().min(1).max(64).optional(),
};

export const relyingPartySchema = z.strictObject({
  /** The realm / identifier the party sends as wtrealm (and the token Audience). */
  identifier: z.string().min(1),
  name: z.string().min(1),
  /** Registered reply (wreply) endpoints; the first is the default. https only. */
  replyUrls: z.array(z.url({ protocol: /^https$/ })).min(1),
  /** Token lifetime in minutes. */
  tokenLifetimeMinutes: z.coerce.number().int().min(1).max(1440).default(60),
  /**
   * AD FS issuance transform rules for this party (text as Get-AdfsRelyingPartyTrust prints IssuanceTransformRules),
   * relative to the config file. Default: send common LDAP attributes (metadata/generic.rules).
   */
  issuanceRulesFile: z.string().min(1).optional(),
  /** AD FS issuance authorization rules (IssuanceAuthorizationRules). Default: permit all users. */
  authorizationRulesFile: z.string().min(1).optional(),
  /** When this party's users need a second factor (issue 16). */
  mfa: trustMfaSchema.optional(),
  ...trustBrandingFields,
});

export const saml2Schema = z.strictObject({
  /**
   * Folder of SAML 2.0 trust files (one YAML file per service provider naming its metadata file or URL and
   * its policy), relative to the config file. Missing folder = no SAML trusts besides Microsoft 365.
   */
  trustsDir: z.string().min(1).default('metadata/trusts'),
  /** Oldest AuthnRequest/LogoutRequest IssueInstant accepted, seconds. */
  requestMaxAgeSeconds: z.coerce.number().int().min(30).max(3600).default(300),
  /** Allowed clock difference with service providers, seconds. */
  clockSkewSeconds: z.coerce.number().int().min(0).max(900).default(180),
  /** Refuse unsigned AuthnRequests from every service provider. */
  requireSignedRequests: z.boolean().default(false),
  /** Longest RelayState accepted, bytes (SAML Bindings §3.4.3 / §3.5.3 say 80). */
  maxRelayStateBytes: z.coerce.number().int().min(80).max(4096).default(80),
  /** Serve the IdP-initiated sign-on page /adfs/ls/idpinitiatedsignon (off by default, as in AD FS 2016+). */
  idpInitiatedSignOn: z.boolean().default(false),
  /** How often metadata given by URL (and trust files) are re-read, minutes. */
  metadataRefreshMinutes: z.coerce.number().int().min(1).max(10_080).default(60),
});

const domainName = z
  .string()
  .regex(
    /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/,
    'must be a domain name like contoso.com',
  );

export const microsoft365Schema = z.strictObject({
  /**
   * Custom domains federated with fedgate. With one or more, tokens carry the per-domain Issuer
   * http://{domain}/adfs/services/trust/ chosen from the user's UPN (AD FS -SupportMultipleDomain).
   */
  federatedDomains: z.array(domainName).default([]),
  /** Replace the shipped Microsoft 365 issuance rules (metadata/microsoft365.rules) with this file. */
  issuanceRulesFile: z.string().min(1).optional(),
  /** Replace the shipped permit-all authorization rule with this file. */
  authorizationRulesFile: z.string().min(1).optional(),
  /** When Microsoft 365 sign-ins need a second factor (besides Entra's own wauth=…multipleauthn requests). */
  mfa: trustMfaSchema.optional(),
  ...trustBrandingFields,
});

/** Extranet smart lockout and password-spray defence (AD FS ESL semantics; security-corpus C1). */
export const lockoutSchema = z.strictObject({
  /** Off: no fedgate-side lockout (AD's own lockout still applies). */
  enabled: z.boolean().default(true),
  /** `enforce` refuses attempts over the threshold; `log-only` only audits what it would refuse (AD FS's learning mode). */
  mode: z.enum(['enforce', 'log-only']).default('enforce'),
  /** Bad passwords per account and location class before fedgate stops checking passwords. Keep it below AD's threshold. */
  threshold: z.coerce.number().int().min(1).max(1000).default(5),
  /** After this many minutes without a failure one attempt is let through; a failure restarts the window. */
  observationWindowMinutes: z.coerce.number().int().min(1).max(10_080).default(30),
  /** Familiar locations (client addresses) remembered per account from successful sign-ins (AD FS: 20). */
  maxFamiliarLocations: z.coerce.number().int().min(0).max(20).default(20),
  /** How long fedgate remembers an account's bad-password count and familiar locations, hours. */
  retentionHours: z.coerce.number().int().min(1).max(8760).default(24),
  /** Client addresses refused before anything else (IPv4, IPv6, CIDR), like AD FS banned IPs. */
  bannedAddresses: z.array(z.string().min(1)).default([]),
  /** Per-source limits (one address failing across many accounts). */
  spray: z
    .strictObject({
      /** Failed sign-ins per source address in one window before the source is refused for the rest of it. */
      maxFailuresPerSource: z.coerce.number().int().min(1).max(100_000).default(30),
      /** Distinct accounts failing from one source in one window that raise a password-spray alert. */
      distinctAccountsAlert: z.coerce.number().int().min(1).max(100_000).default(10),
      /** Length of the per-source window, minutes. */
      windowMinutes: z.coerce.number().int().min(1).max(1440).default(10),
    })
    .default({ maxFailuresPerSource: 30, distinctAccountsAlert: 10, windowMinutes: 10 }),
});

/** Password change (expired / must-change passwords, /adfs/portal/updatepassword/). */
export const passwordChangeSchema = z.strictObject({
  /** Offer the change-password page for expired (532) and must-change (773) passwords, and the portal page. */
  enabled: z.boolean().default(true),
  /** Change attempts per source address per 15 minutes (the page is itself a password oracle). */
  maxAttemptsPerSource: z.coerce.number().int().min(1).max(10_000).default(10),
  /**
   * Password-expiry claims (passwordexpirationtime/-days/-changeurl, for rules using _PasswordExpiryStore such as
   * the Microsoft 365 preset) are issued after a username/password sign-in only when the password expires within
   * this many days (AD FS: fixed 14). 0: never issued.
   */
  expiryNoticeDays: z.coerce.number().int().min(0).max(365).default(14),
  /**
   * The passwordchangeurl claim. Default: fedgate's own /adfs/portal/updatepassword/ page when password change is
   * enabled (and the directory supports it), else none.
   */
  changeUrl: z.url({ protocol: /^https$/ }).optional(),
});

/** The Active Directory claims provider trust (AD FS: "Active Directory" under Claims Provider Trusts). */
export const claimsProviderSchema = z.strictObject({
  /**
   * Its acceptance transform rules (AD FS claim rule language, as `Get-AdfsClaimsProviderTrust -Name "Active
   * Directory"` prints AcceptanceTransformRules), run over the claims of every sign-in before any relying party's
   * rules. Relative to the config file. Default: none, every claim passes through.
   */
  acceptanceRulesFile: z.string().min(1).optional(),
});

/** WS-Trust active endpoints and MEX for rich clients (entra-protocol.md §3). */
export const wstrustSchema = z.strictObject({
  /** Each endpoint can be switched off (AD FS hardening guidance); MEX and `fedgate tenant` follow. */
  endpoints: z
    .strictObject({
      /** POST /adfs/services/trust/2005/usernamemixed (WS-Trust February 2005; Entra's default activeSignInUri). */
      usernamemixed2005: z.boolean().default(true),
      /** POST /adfs/services/trust/13/usernamemixed (WS-Trust 1.3; what MSAL prefers). */
      usernamemixed13: z.boolean().default(true),
      /** GET /adfs/services/trust/mex (the WSDL/WS-Policy document clients discover the endpoints from). */
      mex: z.boolean().default(true),
    })
    .default({ usernamemixed2005: true, usernamemixed13: true, mex: true }),
  /** Allowed difference between the client's wsu:Timestamp Created and our clock, seconds. */
  clockSkewSeconds: z.coerce.number().int().min(0).max(3600).default(300),
  /** Largest accepted SOAP request body, bytes (413 above it, before parsing). */
  maxRequestBytes: z.coerce.number().int().min(4096).max(1_048_576).default(65_536),
});

/** Extended key usages certificate sign-in may accept, by name or dotted OID. */
const ekuName = z.union([
  z.literal('clientAuth'),
  z.literal('smartcardLogon'),
  z.string().regex(/^\d+(\.\d+)+$/, 'must be clientAuth, smartcardLogon or a dotted OID'),
]);

/** Revocation checking for certificate sign-in (security-corpus C6.6). */
export const certificateRevocationSchema = z.strictObject({
  /**
   * `require`: a certificate whose revocation status cannot be established is refused (fail closed, the default);
   * `soft-fail`: it is accepted and the sign-in audited as a revocation soft-fail; `off`: no revocation checks.
   */
  mode: z.enum(['require', 'soft-fail', 'off']).default('require'),
  /** CRL files (PEM or DER) to check against, relative to the config file; re-read when their nextUpdate passes. */
  crlFiles: z.array(z.string().min(1)).default([]),
  /** Download the CRLs a certificate names in its CRL distribution points (http:, https:, and allowed file: URLs). */
  fetchCdp: z.boolean().default(true),
  /**
   * Folders a certificate's file: distribution points may point into. A file: CDP outside them (or with none
   * listed) is ignored, so a certificate cannot make fedgate read arbitrary files.
   */
  fileCdpRoots: z.array(z.string().min(1)).default([]),
  /** Ask the OCSP responder a certificate names (authority information access) before downloading CRLs. */
  ocsp: z.boolean().default(true),
  /** Check every certificate of the chain below the root, not only the user's (as Windows does). */
  checkChain: z.boolean().default(true),
  /** Time limit for one CRL download or OCSP request, milliseconds. */
  timeoutMs: z.coerce.number().int().min(100).max(60_000).default(5000),
  /** Largest CRL accepted, bytes. */
  maxCrlBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .max(200 * 1024 * 1024)
    .default(20 * 1024 * 1024),
  /** Allowed clock difference with CRL and OCSP issuers, seconds. */
  clockSkewSeconds: z.coerce.number().int().min(0).max(3600).default(300),
  /** An OCSP response without nextUpdate is used for this long, seconds (also the longest any response is cached). */
  ocspMaxAgeSeconds: z.coerce.number().int().min(0).max(86_400).default(3600),
});

/** Certificate from a TLS-terminating load balancer (security-corpus C6.1–C6.3). */
export const certificateProxySchema = z.strictObject({
  /** The one request header carrying the client certificate (e.g. X-SSL-Client-Cert, Client-Cert). */
  header: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name (letters, digits, -)'),
  /**
   * How the proxy writes it: `nginx` ($ssl_client_escaped_cert: URL-encoded PEM), `rfc9440` (RFC 9440
   * Client-Cert: `:base64 DER:`), `base64-der` (HAProxy %[ssl_c_der,base64]).
   */
  format: z.enum(['nginx', 'rfc9440', 'base64-der']),
  /** The header carrying the proxy's own verification result; only SUCCESS is accepted. */
  verifyHeader: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name (letters, digits, -)')
    .default('X-SSL-Client-Verify'),
  /**
   * TCP peers (IP or CIDR) allowed to send the certificate header. Default: listen.trustedProxies. From anyone
   * else the header is ignored and audited.
   */
  trustedProxies: z.array(proxyEntry).optional(),
});

/** Smartcard / client-certificate sign-in (entra-protocol.md §5.3, security-corpus C6). */
export const certificateAuthSchema = z
  .strictObject({
    /** Offer "Sign in with a certificate". Off by default. */
    enabled: z.boolean().default(false),
    /**
     * The certificate-authentication TLS listener (AD FS: port 49443), which asks browsers for a client
     * certificate; `off` for none (proxy header or SNI host only).
     */
    port: z.union([z.literal('off'), z.coerce.number().int().min(0).max(65535)]).default(49443),
    /** Address the certificate listener binds. */
    host: z.string().default('0.0.0.0'),
    /**
     * A host name (AD FS: certauth.<federation service name>) answered on the main port with a client-certificate
     * request, chosen by TLS SNI. Needs listen.tls on and a server certificate naming it. Absent: off.
     */
    sniHostname: z
      .string()
      .regex(/^[A-Za-z0-9.-]+$/, 'must be a DNS name')
      .optional(),
    /**
     * Base URL browsers reach the certificate route at. Default: https://{hostname}:{port}, or
     * https://{sniHostname}[:{listen.port}]. Required behind a load balancer that terminates the certificate TLS.
     */
    publicUrl: z.url({ protocol: /^https$/ }).optional(),
    /** Server certificate and key of the certificate listener. Default: the main listener's (or the generated one). */
    tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    /**
     * PEM files of the CAs allowed to issue sign-in certificates (AD's NTAuth store): a user certificate must be
     * issued directly by one of them.
     */
    issuingCAs: z.array(z.string().min(1)).default([]),
    /** PEM files of the CAs above the issuing CAs, up to and including the root (each issuing CA must chain to a root). */
    caCertificates: z.array(z.string().min(1)).default([]),
    /** Extended key usages accepted on a user certificate (any one of them). */
    allowedEkus: z.array(ekuName).min(1).default(['clientAuth', 'smartcardLogon']),
    /** Accept a certificate without an extended key usage extension (RFC 5280: any purpose). Windows' default: no. */
    allowNoEku: z.boolean().default(false),
    /** Certificate policy OIDs of which the user certificate must carry one; empty: no policy required. */
    requiredPolicies: z
      .array(z.string().regex(/^\d+(\.\d+)+$/, 'must be a dotted OID'))
      .default([]),
    /** Smallest RSA key accepted in a user certificate, bits. */
    minRsaBits: z.coerce.number().int().min(1024).max(16_384).default(2048),
    /**
     * Map a certificate by the UPN in its subject alternative name when it has no strong mapping (SID extension or
     * an altSecurityIdentities match). Weak (KB5014754, CVE-2022-26923): off by default; every use is audited.
     */
    allowWeakUpnMapping: z.boolean().default(false),
    revocation: certificateRevocationSchema.default({
      mode: 'require',
      crlFiles: [],
      fetchCdp: true,
      fileCdpRoots: [],
      ocsp: true,
      checkChain: true,
      timeoutMs: 5000,
      maxCrlBytes: 20 * 1024 * 1024,
      clockSkewSeconds: 300,
      ocspMaxAgeSeconds: 3600,
    }),
    /** Read the certificate from a TLS-terminating load balancer's header. Absent: never. */
    proxy: certificateProxySchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (!c.enabled) return;
    if (c.issuingCAs.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['issuingCAs'],
        message: 'certificate sign-in needs at least one issuing CA',
      });
    if (c.port === 'off' && c.sniHostname === undefined && c.proxy === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['port'],
        message: 'certificate sign-in needs a route: port, sniHostname or proxy',
      });
    if (c.port === 'off' && c.sniHostname === undefined && c.publicUrl === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['publicUrl'],
        message: 'set publicUrl: the address where the load balancer serves the certificate route',
      });
  });

const radiusServerSchema = z.strictObject({
  /** IP address or DNS name of the RADIUS server (Duo Authentication Proxy, NPS extension, privacyIDEA, …). */
  host: z.string().min(1).max(253),
  /** UDP authentication port. */
  port: z.coerce.number().int().min(1).max(65535).default(1812),
  /** This server's shared secret (RFC 2865 §3); prefer secretFile or FEDGATE_MFA__RADIUS__SERVERS__0__SECRET. */
  secret: z.string().min(16, 'must be at least 16 characters').max(128).optional(),
  /** File holding the shared secret (first line), relative to the config file. */
  secretFile: z.string().min(1).optional(),
});

/** Multi-factor authentication (issue 16): when it is required, which methods, where enrolments live. */
export const mfaSchema = z
  .strictObject({
    /** The methods users may use; users pick among those they have enrolled (RADIUS needs no enrolment here). */
    methods: z.array(z.enum(['totp', 'webauthn', 'radius'])).default(['totp', 'webauthn']),
    /** Global AD FS AdditionalAuthenticationRules (Set-AdfsAdditionalAuthenticationRule), for every trust. */
    additionalAuthenticationRulesFile: z.string().min(1).optional(),
    /** Access-control-policy presets for every trust: everyone, extranet, unregistered-networks, group. */
    accessControlPolicies: z.array(mfaPresetSchema).default([]),
    /**
     * Secrets sealing MFA enrolments (AES-256-GCM) before they are written to the directory, shared by the farm;
     * the first seals, all open (rotation). Absent: keys.dir/mfa.secret, generated on first start.
     */
    secrets: z.array(z.string().min(32, 'must be at least 32 characters')).optional(),
    /** Wrong second factors (any method) before the account is locked out of MFA, and for how long. */
    lockout: z
      .strictObject({
        threshold: z.coerce.number().int().min(1).max(100).default(5),
        durationMinutes: z.coerce.number().int().min(1).max(1440).default(15),
      })
      .default({ threshold: 5, durationMinutes: 15 }),
    /** Removing a factor needs a second factor done at most this many minutes ago. */
    freshMinutes: z.coerce.number().int().min(1).max(60).default(10),
    totp: z
      .strictObject({
        /** Time steps of clock drift accepted either side of now (RFC 6238 §6: at most 1 recommended). */
        driftSteps: z.coerce.number().int().min(0).max(10).default(1),
        /** The issuer label authenticator apps show; default the display name. */
        issuer: z.string().min(1).max(64).optional(),
      })
      .default({ driftSteps: 1 }),
    webauthn: z
      .strictObject({
        /** WebAuthn user verification (PIN / biometric on the authenticator). */
        userVerification: z.enum(['required', 'preferred', 'discouraged']).default('preferred'),
        /** Ask for attestation; with `direct`, only authenticators in allowedAaguids may enrol. */
        attestation: z.enum(['none', 'direct']).default('none'),
        /** Authenticator models (AAGUIDs) allowed to enrol; empty: any (only with attestation none). */
        allowedAaguids: z
          .array(
            z
              .string()
              .regex(
                /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
                'must be an AAGUID',
              ),
          )
          .default([]),
        /**
         * PEM bundle of the authenticator vendors' attestation root certificates, relative to the config file
         * (attestation direct only). Set: an enrolment is accepted only when its attestation certificate chain
         * verifies to one of them. Absent: the chain is not checked, so allowedAaguids keeps out honest
         * authenticators of other models but not a client that forges its own attestation.
         */
        attestationRootsFile: z.string().min(1).optional(),
        /** How long the browser may take for one WebAuthn ceremony, seconds. */
        timeoutSeconds: z.coerce.number().int().min(10).max(600).default(120),
      })
      .default({
        userVerification: 'preferred',
        attestation: 'none',
        allowedAaguids: [],
        timeoutSeconds: 120,
      }),
    radius: z
      .strictObject({
        /** Tried in order (failover). */
        servers: z.array(radiusServerSchema).default([]),
        /** NAS-Identifier sent in every request. */
        nasIdentifier: z.string().min(1).max(64).default('fedgate'),
        /** The User-Name sent: the user's UPN or sAMAccountName. */
        userName: z.enum(['userPrincipalName', 'sAMAccountName']).default('userPrincipalName'),
        /** Wait for one reply, milliseconds. */
        attemptTimeoutMs: z.coerce.number().int().min(100).max(60_000).default(3000),
        /** Retransmissions to one server before the next one is asked. */
        retries: z.coerce.number().int().min(0).max(5).default(1),
        /** Bound on one verification across every server (push approval waits here), milliseconds. */
        totalTimeoutMs: z.coerce.number().int().min(500).max(120_000).default(30_000),
      })
      .default({
        servers: [],
        nasIdentifier: 'fedgate',
        userName: 'userPrincipalName',
        attemptTimeoutMs: 3000,
        retries: 1,
        totalTimeoutMs: 30_000,
      }),
    enrolment: z
      .strictObject({
        /**
         * The AD attribute (single-valued Unicode string) that holds each user's sealed enrolments, e.g. a free
         * extensionAttributeN or msDS-cloudExtensionAttributeN, or a schema extension (docs/mfa-directory.md). Required for an
         * ldap directory when totp or webauthn is enabled. The service account needs write permission on it only.
         */
        attribute: z
          .string()
          .regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'must be an LDAP attribute name')
          .optional(),
        /** The embedded directory's enrolment file, relative to the config file (default keys.dir/mfa-enrolments.json). */
        file: z.string().min(1).optional(),
        /**
         * How a user without any factor may enrol the first one (a password alone, from outside, never can):
         * `intranet` from corporateNetworks addresses, `code` with a one-time code from `fedgate mfa enrol-code`,
         * `certificate` right after a certificate sign-in. Empty: nobody can enrol a first factor.
         */
        allow: z.array(z.enum(['intranet', 'code', 'certificate'])).default(['code']),
        /** Lifetime of an enrolment code, hours. */
        codeLifetimeHours: z.coerce.number().int().min(1).max(720).default(72),
        /** Serve the self-service security-info page /adfs/portal/ (list, add, remove, rename factors). */
        portal: z.boolean().default(true),
      })
      .default({ allow: ['code'], codeLifetimeHours: 72, portal: true }),
  })
  .superRefine((m, ctx) => {
    if (m.methods.includes('radius') && m.radius.servers.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['radius', 'servers'],
        message: 'list at least one RADIUS server when mfa.methods includes radius',
      });
    m.radius.servers.forEach((srv, i) => {
      if ((srv.secret === undefined) === (srv.secretFile === undefined))
        ctx.addIssue({
          code: 'custom',
          path: ['radius', 'servers', i],
          message: 'set exactly one of secret, secretFile',
        });
    });
    if (m.webauthn.attestation === 'direct' && m.webauthn.allowedAaguids.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['webauthn', 'allowedAaguids'],
        message:
          'list the authenticator models (AAGUIDs) allowed to enrol when attestation is direct',
      });
    if (m.webauthn.attestationRootsFile !== undefined && m.webauthn.attestation !== 'direct')
      ctx.addIssue({
        code: 'custom',
        path: ['webauthn', 'attestationRootsFile'],
        message: 'attestation roots are checked only with attestation direct',
      });
  });

/**
 * A redirect URI a client may be sent back to (RFC 9700 §2.1: exact string match, no wildcards). https, a loopback
 * http address (RFC 8252 §7.3, native apps), or a private-use scheme (RFC 8252 §7.1, `ms-app://`, `com.contoso.app:`).
 * No fragment (RFC 6749 §3.1.2).
 */
const redirectUri = z
  .string()
  .min(1)
  .max(2048)
  .refine((v) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      return false;
    }
    if (u.hash !== '' || v.includes('#')) return false;
    if (u.protocol === 'https:') return true;
    if (u.protocol === 'http:')
      return ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname.toLowerCase());
    // A private-use scheme names the app (reverse domain name or AD FS's ms-app://); never javascript:, data: or file:.
    return !/^(javascript|data|file|vbscript|blob|about|http|https):$/i.test(u.protocol);
  }, 'must be an https:// URI, an http://localhost or http://127.0.0.1 URI, or an app scheme, without a #fragment');

/** A client identifier (AD FS: usually a GUID; any printable string without spaces). */
const clientId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** A stored client secret: its SHA-256 (the secret itself is shown once by `fedgate app add`, never kept). */
const clientSecretHash = z
  .string()
  .regex(
    /^sha256:[A-Za-z0-9_-]{43}$/,
    'must be sha256:<base64url of 32 bytes> (fedgate app add writes it)',
  );

/** A scope name a Web API grants (AD FS scope descriptions: openid, profile, email, allatclaims, user_impersonation, ...). */
const scopeName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be a scope token (RFC 6749 §3.3)');

/** Add-AdfsNativeClientApplication: a public client (desktop, mobile, SPA); it has no secret. */
export const nativeClientSchema = z.strictObject({
  name: z.string().min(1).max(200),
  /** -Identifier: the client_id. */
  clientId,
  /** -RedirectUri: where the authorization response may go (exact match). */
  redirectUris: z.array(redirectUri).max(100).default([]),
  /** -LogoutUri: called in a hidden frame at sign-out (front-channel logout, with iss and sid). */
  logoutUri: z.url({ protocol: /^https?$/ }).optional(),
  /** Where /adfs/oauth2/logout may return the browser (post_logout_redirect_uri); default: the redirect URIs. */
  postLogoutRedirectUris: z.array(redirectUri).max(100).optional(),
  /**
   * The resource-owner password grant for this client (scripts). RFC 9700 §2.4: must not be used; off unless set
   * (AD FS allows it for every client).
   */
  allowPasswordGrant: z.boolean().default(false),
  description: z.string().max(1000).optional(),
});

/** Add-AdfsServerApplication: a confidential client (web app, daemon, middle-tier API). */
export const serverApplicationSchema = nativeClientSchema.extend({
  /** -GenerateClientSecret: the secrets' hashes (several during a change-over). */
  clientSecrets: z.array(clientSecretHash).max(10).default([]),
  /** -JWTSigningCertificate: certificates (PEM files, relative to the file) whose keys sign private_key_jwt assertions. */
  jwtSigningCertificateFiles: z.array(z.string().min(1)).max(10).default([]),
  /** -JWKSUri: where the client publishes its keys for private_key_jwt (https). */
  jwksUri: z.url({ protocol: /^https$/ }).optional(),
});

/** Grant-AdfsApplicationPermission: which client may ask this Web API for which scopes. */
export const applicationPermissionSchema = z.strictObject({
  /** -ClientRoleIdentifier (a client_id of this or another group), or `*` for -AllowAllRegisteredClients. */
  client: z.union([clientId, z.literal('*')]),
  /** -ScopeNames. */
  scopes: z.array(scopeName).min(1).max(100),
});

/** Add-AdfsWebApiApplication: a resource; its identifiers are the access token's audience. */
export const webApiSchema = z.strictObject({
  name: z.string().min(1).max(200),
  /** -Identifier: the `resource` value clients send, and the token's `aud`. The first is the audience written. */
  identifiers: z.array(z.string().min(1).max(2048)).min(1).max(20),
  /** -IssuanceTransformRules as text (pasted from Get-AdfsWebApiApplication), or a file relative to this file. */
  issuanceRules: z.string().max(1_000_000).optional(),
  issuanceRulesFile: z.string().min(1).optional(),
  /** -IssuanceAuthorizationRules; default: permit everyone. */
  authorizationRules: z.string().max(1_000_000).optional(),
  authorizationRulesFile: z.string().min(1).optional(),
  /** -AdditionalAuthenticationRules / -AccessControlPolicyName (as trust `mfa`). */
  mfa: trustMfaSchema.optional(),
  /** -TokenLifetime, minutes (access and ID token). */
  tokenLifetimeMinutes: z.coerce.number().int().min(5).max(1440).default(60),
  /** -AllowedClientTypes. */
  allowedClientTypes: z
    .array(z.enum(['public', 'confidential']))
    .default(['public', 'confidential']),
  /** -IssueOAuthRefreshTokensTo: NoDevice = false. */
  issueRefreshTokens: z.boolean().default(true),
  /** Grant-AdfsApplicationPermission entries for this Web API. */
  permissions: z.array(applicationPermissionSchema).max(1000).default([]),
  description: z.string().max(1000).optional(),
});

/** New-AdfsApplicationGroup with its applications: one file in oauth.applicationsDir, or inline in oauth.applicationGroups. */
export const applicationGroupSchema = z.strictObject({
  /** -Name. */
  name: z.string().min(1).max(200),
  /** -ApplicationGroupIdentifier (default: the name). */
  identifier: z.string().min(1).max(200).optional(),
  description: z.string().max(1000).optional(),
  /** Off: every client and Web API of the group refuses (AD FS -Disabled). */
  enabled: z.boolean().default(true),
  nativeClients: z.array(nativeClientSchema).max(1000).default([]),
  serverApplications: z.array(serverApplicationSchema).max(1000).default([]),
  webApis: z.array(webApiSchema).max(1000).default([]),
});

/**
 * OpenID Connect and OAuth 2.0 on AD FS's paths (issue 19). Where AD FS is weaker than RFC 9700 the default is the
 * stronger behaviour, and a key here restores AD FS's.
 */
export const oauthSchema = z.strictObject({
  /** Serve /adfs/.well-known/openid-configuration, /adfs/oauth2/*, /adfs/userinfo and /adfs/discovery/keys. */
  enabled: z.boolean().default(true),
  /** Application group files (`fedgate app add` writes them), relative to the config file. */
  applicationsDir: z.string().min(1).default('metadata/applications'),
  /**
   * How often each node looks for changed files in applicationsDir, seconds (`fedgate app` changes take effect
   * without a restart). 0: only at start.
   */
  reloadIntervalSeconds: z.coerce.number().int().min(0).max(3600).default(30),
  /** Application groups written in this file (besides applicationsDir). */
  applicationGroups: z.array(applicationGroupSchema).default([]),
  /**
   * PKCE (RFC 7636) on the authorization code grant: `all` (RFC 9700 §2.1.1, default), `public` (public clients
   * only), `optional` (AD FS: never required). Only S256 is accepted (RFC 9700 §2.1.1; AD FS also takes plain).
   */
  pkceRequired: z.enum(['all', 'public', 'optional']).default('all'),
  /**
   * Refresh-token rotation (RFC 9700 §4.14.2): `public` (default: a public client's refresh token is replaced at
   * each use, and reuse of a replaced one revokes the grant), `all`, or `none` (AD FS).
   */
  rotateRefreshTokens: z.enum(['public', 'all', 'none']).default('public'),
  /** The implicit flow (response_type id_token / token) for public clients, as AD FS. RFC 9700 §2.1.2: off. */
  allowImplicit: z.boolean().default(false),
  /** Authorization code lifetime, seconds (AD FS: about 10 minutes; RFC 9700 suggests less). */
  codeLifetimeSeconds: z.coerce.number().int().min(10).max(600).default(60),
  /** Refresh token lifetime, hours (AD FS: 8 h; 24 h after "Keep me signed in"). */
  refreshTokenLifetimeHours: z.coerce.number().int().min(1).max(2160).default(8),
  /** Refresh token lifetime after "Keep me signed in", hours. */
  refreshTokenKmsiLifetimeHours: z.coerce.number().int().min(1).max(2160).default(24),
  /** Device code lifetime, minutes (AD FS: 15). */
  deviceCodeLifetimeMinutes: z.coerce.number().int().min(1).max(60).default(15),
  /** Minimum seconds between device-code polls (RFC 8628 §3.5 interval). */
  deviceCodePollIntervalSeconds: z.coerce.number().int().min(1).max(60).default(5),
});

export const configSchema = z.strictObject({
  /** Public DNS name of the federation service (used in every published URL; never taken from Host). */
  hostname: z
    .string()
    .regex(/^[A-Za-z0-9.-]+$/, 'must be a DNS name')
    .default('localhost'),
  /** Federation service identifier: token Issuer and metadata entityID. Default http://{hostname}/adfs/services/trust */
  issuerUri: z.string().min(1).optional(),
  /** Base URL users and clients reach (scheme://host[:port]); default from hostname, port and TLS mode. */
  publicUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Display name shown on the sign-in page and in metadata. */
  displayName: z.string().min(1).default('fedgate'),
  listen: listenSchema.default({
    port: 8443,
    host: '0.0.0.0',
    tls: 'generate',
    trustedProxies: [],
  }),
  keys: keysSchema.default(keysSchema.parse({})),
  directory: directorySchema.default({ kind: 'embedded', netbiosDomain: 'FEDGATE' }),
  store: storeSchema.default({ kind: 'memory' }),
  session: z
    .strictObject({
      /** SSO session lifetime in minutes (AD FS default 8 hours). */
      lifetimeMinutes: z.coerce.number().int().min(1).max(10_080).default(480),
      /**
       * Secrets sealing SSO session cookies and records (AES-256-GCM), shared by every node of a farm. The first
       * seals; the others still open (rotation without signing anyone out). Absent: keys.dir/session.secret,
       * generated on first start. Prefer FEDGATE_SESSION__SECRETS=new,old.
       */
      secrets: z.array(z.string().min(32, 'must be at least 32 characters')).optional(),
    })
    .default({ lifetimeMinutes: 480 }),
  /**
   * Enable the built-in test relying party `urn:fedgate:test`, whose tokens go to fedgate's own token test page
   * (/adfs/test/result). Default: on with embedded defaults, off with a config file.
   */
  testRelyingParty: z.boolean().optional(),
  /** The built-in Microsoft 365 trust ("Microsoft Office 365 Identity Platform"). */
  microsoft365: microsoft365Schema.default({ federatedDomains: [] }),
  /** Extra WS-Federation relying parties besides the built-in Microsoft 365 trust. */
  relyingParties: z.array(relyingPartySchema).default([]),
  /** SAML 2.0 identity provider (SSO and SLO on /adfs/ls/, trusts from SP metadata). */
  saml2: saml2Schema.default({
    trustsDir: 'metadata/trusts',
    requestMaxAgeSeconds: 300,
    clockSkewSeconds: 180,
    requireSignedRequests: false,
    maxRelayStateBytes: 80,
    idpInitiatedSignOn: false,
    metadataRefreshMinutes: 60,
  }),
  /** The Active Directory claims provider trust: acceptance transform rules. */
  claimsProvider: claimsProviderSchema.default({}),
  /** Smartcard / client-certificate sign-in. */
  certificateAuth: certificateAuthSchema.default({
    enabled: false,
    port: 49443,
    host: '0.0.0.0',
    issuingCAs: [],
    caCertificates: [],
    allowedEkus: ['clientAuth', 'smartcardLogon'],
    allowNoEku: false,
    requiredPolicies: [],
    minRsaBits: 2048,
    allowWeakUpnMapping: false,
    revocation: {
      mode: 'require',
      crlFiles: [],
      fetchCdp: true,
      fileCdpRoots: [],
      ocsp: true,
      checkChain: true,
      timeoutMs: 5000,
      maxCrlBytes: 20 * 1024 * 1024,
      clockSkewSeconds: 300,
      ocspMaxAgeSeconds: 3600,
    },
  }),
  /**
   * The organisation's networks (IP addresses, CIDR ranges): a client address inside them is
   * insidecorporatenetwork = true for claim rules and MFA policy (AD FS: a request that did not come through the
   * Web Application Proxy). Empty: every request is extranet.
   */
  corporateNetworks: z.array(proxyEntry).default([]),
  /** The pages' brand, languages and sign-in options (issue 17). */
  branding: brandingSchema.default({
    defaultLocale: 'en',
    theme: 'default',
    webContent: { locales: {} },
    signIn: { paginated: false, keepMeSignedIn: false, keepMeSignedInHours: 24 },
  }),
  /** Multi-factor authentication (issue 16). */
  mfa: mfaSchema.default({
    methods: ['totp', 'webauthn'],
    accessControlPolicies: [],
    lockout: { threshold: 5, durationMinutes: 15 },
    freshMinutes: 10,
    totp: { driftSteps: 1 },
    webauthn: {
      userVerification: 'preferred',
      attestation: 'none',
      allowedAaguids: [],
      timeoutSeconds: 120,
    },
    radius: {
      servers: [],
      nasIdentifier: 'fedgate',
      userName: 'userPrincipalName',
      attemptTimeoutMs: 3000,
      retries: 1,
      totalTimeoutMs: 30_000,
    },
    enrolment: { allow: ['code'], codeLifetimeHours: 72, portal: true },
  }),
  lockout: lockoutSchema.default({
    enabled: true,
    mode: 'enforce',
    threshold: 5,
    observationWindowMinutes: 30,
    maxFamiliarLocations: 20,
    retentionHours: 24,
    bannedAddresses: [],
    spray: { maxFailuresPerSource: 30, distinctAccountsAlert: 10, windowMinutes: 10 },
  }),
  passwordChange: passwordChangeSchema.default({
    enabled: true,
    maxAttemptsPerSource: 10,
    expiryNoticeDays: 14,
  }),
  /** OpenID Connect and OAuth 2.0 (issue 19). */
  oauth: oauthSchema.default(oauthSchema.parse({})),
  wstrust: wstrustSchema.default({
    endpoints: { usernamemixed2005: true, usernamemixed13: true, mex: true },
    clockSkewSeconds: 300,
    maxRequestBytes: 65_536,
  }),
  /**
   * Management listener: /metrics (Prometheus), /healthz/live, /healthz/ready. Off unless `port` is set. Never
   * publish it through the load balancer.
   */
  management: z
    .strictObject({
      /** TCP port (0 = any free port). Absent: no management listener. */
      port: z.coerce.number().int().min(0).max(65535).optional(),
      /** Address to bind; default loopback (set 0.0.0.0 in a container so Prometheus can reach it). */
      host: z.string().default('127.0.0.1'),
    })
    .default({ host: '127.0.0.1' }),
  /**
   * Graceful shutdown (security-corpus E6). SIGTERM drains when a configuration file is used; SIGINT (Ctrl-C) drains
   * only when a load balancer is configured (listen.trustedProxies not empty); embedded defaults never drain.
   */
  shutdown: z
    .strictObject({
      /**
       * How long a draining node keeps serving after the signal while its probe answers 503: longer than the load
       * balancer's probe interval × failure count, so the LB stops sending before the node stops accepting.
       */
      drainDelayMs: z.coerce.number().int().min(0).max(300_000).default(15_000),
      /** After the drain delay, how long in-flight requests may take before their connections are cut. */
      timeoutMs: z.coerce.number().int().min(0).max(300_000).default(10_000),
    })
    .default({ drainDelayMs: 15_000, timeoutMs: 10_000 }),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /**
       * Bound of the buffer of log lines waiting for standard output to be read (`fedgate serve` writes
       * asynchronously). Past it lines are dropped and counted (fedgate_log_dropped_lines_total), never blocking.
       */
      bufferBytes: z.coerce
        .number()
        .int()
        .min(65_536)
        .max(1_073_741_824)
        .default(16 * 1024 * 1024),
      /** On shutdown, how long to wait for the reader to take the buffered lines before exiting anyway. */
      flushTimeoutMs: z.coerce.number().int().min(0).max(60_000).default(3000),
    })
    .default({ level: 'info', bufferBytes: 16 * 1024 * 1024, flushTimeoutMs: 3000 }),
});

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type LdapDirectoryConfig = z.output<typeof ldapDirectorySchema>;
export type EmbeddedDirectoryConfig = z.output<typeof embeddedDirectorySchema>;
export type RelyingPartyConfig = z.output<typeof relyingPartySchema>;
export type LockoutConfig = z.output<typeof lockoutSchema>;
export type PasswordChangeConfig = z.output<typeof passwordChangeSchema>;
export type RedisStoreConfig = z.output<typeof redisStoreSchema>;
export type CertificateAuthConfig = z.output<typeof certificateAuthSchema>;
export type MfaConfig = z.output<typeof mfaSchema>;
export type BrandingConfig = z.output<typeof brandingSchema>;
export type WebContentConfig = z.output<typeof webContentSchema>;
export type MfaPresetConfig = z.output<typeof mfaPresetSchema>;
export type TrustMfaConfig = z.output<typeof trustMfaSchema>;
export type OAuthConfig = z.output<typeof oauthSchema>;
export type ApplicationGroupConfig = z.output<typeof applicationGroupSchema>;
export type NativeClientConfig = z.output<typeof nativeClientSchema>;
export type ServerApplicationConfig = z.output<typeof serverApplicationSchema>;
export type WebApiConfig = z.output<typeof webApiSchema>;
export type CertificateRevocationConfig = z.output<typeof certificateRevocationSchema>;

/** The resolved, frozen configuration the rest of the server sees. */
export interface Config extends ParsedConfig {
  /** certificateAuth with its public URL resolved (empty when certificate sign-in is off). */
  certificateAuth: CertificateAuthConfig & { publicUrl: string };
  testRelyingParty: boolean;
  issuerUri: string;
  publicUrl: string;
  /** true when no config file was given (embedded defaults; not for production). */
  embeddedDefaults: boolean;
  /** Directory the config file lives in; relative paths in the file resolve against it. */
  baseDir: string;
}
