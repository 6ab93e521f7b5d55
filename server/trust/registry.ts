import {
  configPath,
  genericRules,
  loadRulesFile,
  microsoft365Rules,
  type RelyingPartyRules,
} from '../claims/rule-sets.ts';
import type { RuleSet } from '../claims/rule-ast.ts';
import type {
  MfaPresetConfig,
  RelyingPartyConfig,
  TrustMfaConfig,
  WebContentConfig,
} from '../config/schema.ts';
import type { AssertionEncryption } from '../tokens/saml2-encryption.ts';
import { BINDING_POST, BINDING_REDIRECT, type SamlSpMetadata } from './saml-metadata.ts';

export type ClaimsPreset = 'microsoft365' | 'generic';

/** A trust as defined, before its rule sets are loaded. */
export type RelyingPartyDefinition = Omit<RelyingParty, 'rules'>;

/** A relying-party trust: who may ask for tokens, where tokens may be delivered, and how. */
export interface RelyingParty {
  identifier: string;
  /** Other identifiers that name the same trust (e.g. extSTS.srf for Microsoft 365 active clients). */
  aliases: string[];
  name: string;
  /** Registered reply endpoints; the first is the default. Tokens are only ever posted to one of these. */
  replyUrls: string[];
  tokenLifetimeMinutes: number;
  /** Which shipped rule sets apply when the trust has no rule files of its own. */
  claimsPreset: ClaimsPreset;
  /** Issuance transform and issuance authorization rules, compiled at startup. */
  rules: RelyingPartyRules;
  /** SAML 2.0 service-provider side of the trust (metadata + policy), when the party speaks SAML 2.0. */
  saml?: SamlTrust | undefined;
  /**
   * The trust's own MFA policy (issue 16): relyingParties[].mfa, microsoft365.mfa or the SAML trust file's `mfa`.
   * Group presets still name their group as configured; authn/mfa/trust-policy.ts resolves and compiles them.
   */
  mfa?: TrustMfa | undefined;
  /** The trust's own texts and theme on the pages its users see (issue 17; AD FS relying-party web content/theme). */
  branding?: TrustBranding | undefined;
}

/** Set-AdfsRelyingPartyWebContent / Set-AdfsRelyingPartyWebTheme, as configured. */
export interface TrustBranding {
  webContent?: WebContentConfig | undefined;
  webTheme?: string | undefined;
}

/** The branding part of a trust's configuration; undefined when it sets none. */
export function trustBrandingOf(c: {
  webContent?: WebContentConfig | undefined;
  webTheme?: string | undefined;
}): TrustBranding | undefined {
  if (c.webContent === undefined && c.webTheme === undefined) return undefined;
  return Object.freeze({ webContent: c.webContent, webTheme: c.webTheme });
}

/** A trust's MFA policy as configured, its rule file compiled (a file that does not parse stops startup). */
export interface TrustMfa {
  /** The trust's AdditionalAuthenticationRules. */
  rules?: RuleSet | undefined;
  /** Access-control-policy presets, as configured. */
  presets: readonly MfaPresetConfig[];
}

/**
 * A trust's `mfa` configuration with its rule file compiled (path relative to `baseDir`); undefined when it asks
 * nothing. Throws RuleError (file:line:column) when the file does not parse.
 */
export function trustMfaOf(baseDir: string, mfa: TrustMfaConfig | undefined): TrustMfa | undefined {
  if (mfa === undefined) return undefined;
  const file = configPath(baseDir, mfa.additionalAuthenticationRulesFile);
  if (file === undefined && mfa.accessControlPolicies.length === 0) return undefined;
  return Object.freeze({
    rules: file === undefined ? undefined : loadRulesFile(file),
    presets: Object.freeze([...mfa.accessControlPolicies]),
  });
}

/** Per-trust SAML 2.0 policy (the trust file under metadata/, server/trust/saml-trusts.ts). */
export interface SamlSpPolicy {
  signAssertion: boolean;
  signResponse: boolean;
  /** Refuse unsigned AuthnRequests even when the SP's metadata does not say AuthnRequestsSigned. */
  requireSignedRequests: boolean;
  /** The NameID format this party gets; undefined = the nameidentifier claim's format property. */
  nameIdFormat?: string | undefined;
  /** Accept RSA-SHA1 request signatures (Entra signs AuthnRequests with rsa-sha1, entra-protocol §2). */
  allowSha1: boolean;
  /** Listed on the IdP-initiated sign-on page. */
  idpInitiated: boolean;
  /** RelayState values (URLs) allowed in IdP-initiated sign-on. */
  relayStateUrls: string[];
  /** Encrypt assertions to this key (the SP's metadata encryption certificate); undefined = plain. */
  encryption?: AssertionEncryption | undefined;
}

export interface SamlTrust {
  metadata: SamlSpMetadata;
  policy: SamlSpPolicy;
  /** Where the metadata came from (file path or URL), for logs and `fedgate rp list`. */
  source: string;
}

/** Entra ID's SAML 2.0 SP side as captured in its metadata (entra-protocol §2), used until its metadata is loaded. */
export const MICROSOFT_365_SAML: SamlTrust = Object.freeze({
  metadata: {
    entityId: 'urn:federation:MicrosoftOnline',
    authnRequestsSigned: false,
    wantAssertionsSigned: true,
    assertionConsumerServices: [
      {
        binding: BINDING_POST,
        location: 'https://login.microsoftonline.com/login.srf',
        index: 0,
        isDefault: true,
      },
    ],
    singleLogoutServices: [
      { binding: BINDING_REDIRECT, location: 'https://login.microsoftonline.com/login.srf' },
      { binding: BINDING_POST, location: 'https://login.microsoftonline.com/login.srf' },
    ],
    signingCertificates: [],
    encryptionCertificates: [],
    nameIdFormats: ['urn:oasis:names:tc:SAML:2.0:nameid-format:persistent'],
  },
  policy: {
    signAssertion: true,
    signResponse: false,
    requireSignedRequests: false,
    nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    allowSha1: true,
    idpInitiated: false,
    relayStateUrls: [],
  },
  source: 'built-in',
});

export interface TrustRegistryOptions {
  /** Enables the built-in test relying party with this reply address. */
  testRelyingPartyReply?: string | undefined;
  /** Folder rule-file paths in the configuration are relative to (the configuration file's). */
  baseDir?: string | undefined;
  /** The Microsoft 365 trust's settings (config `microsoft365`). */
  microsoft365?:
    | {
        federatedDomains: readonly string[];
        issuanceRulesFile?: string | undefined;
        authorizationRulesFile?: string | undefined;
        mfa?: TrustMfaConfig | undefined;
        webContent?: WebContentConfig | undefined;
        webTheme?: string | undefined;
      }
    | undefined;
}

/** The Microsoft 365 trust AD FS calls "Microsoft Office 365 Identity Platform" (entra-protocol.md §1.2, §6). */
export const MICROSOFT_365: RelyingPartyDefinition = Object.freeze({
  identifier: 'urn:federation:MicrosoftOnline',
  aliases: ['https://login.microsoftonline.com/extSTS.srf'],
  name: 'Microsoft Office 365 Identity Platform',
  replyUrls: ['https://login.microsoftonline.com/login.srf'],
  tokenLifetimeMinutes: 60,
  claimsPreset: 'microsoft365' as const,
});

/**
 * fedgate's own test relying party: its reply address is fedgate's token test page, which shows the signed-in
 * user what a relying party would receive. On by default only with embedded defaults (config testRelyingParty).
 */
export const TEST_RELYING_PARTY_ID = 'urn:fedgate:test';
const TEST_RELYING_PARTY: RelyingPartyDefinition = Object.freeze({
  identifier: TEST_RELYING_PARTY_ID,
  aliases: [],
  name: 'fedgate token test page',
  replyUrls: [],
  tokenLifetimeMinutes: 60,
  claimsPreset: 'microsoft365' as const,
});

export class TrustRegistry {
  readonly #byId = new Map<string, RelyingParty>();
  #parties: readonly RelyingParty[];

  /**
   * Loads every trust's rule sets; throws (RuleError: file, line, column, rule) when one does not parse or check,
   * so a broken rule file stops startup instead of failing sign-ins.
   */
  constructor(configured: readonly RelyingPartyConfig[], opts: TrustRegistryOptions = {}) {
    const baseDir = opts.baseDir ?? process.cwd();
    const m365 = opts.microsoft365;
    const m365Rules = microsoft365Rules({
      federatedDomains: m365?.federatedDomains ?? [],
      issuanceRulesFile: configPath(baseDir, m365?.issuanceRulesFile),
      authorizationRulesFile: configPath(baseDir, m365?.authorizationRulesFile),
    });
    const parties: RelyingParty[] = [
      {
        ...MICROSOFT_365,
        rules: m365Rules,
        saml: MICROSOFT_365_SAML,
        mfa: trustMfaOf(baseDir, m365?.mfa),
        branding: m365 === undefined ? undefined : trustBrandingOf(m365),
      },
    ];
    if (opts.testRelyingPartyReply !== undefined) {
      parties.push({
        ...TEST_RELYING_PARTY,
        replyUrls: [opts.testRelyingPartyReply],
        rules: m365Rules,
      });
    }
    let shared: RelyingPartyRules | undefined;
    for (const rp of configured) {
      const own = rp.issuanceRulesFile !== undefined || rp.authorizationRulesFile !== undefined;
      const rules = own
        ? genericRules({
            issuanceRulesFile: configPath(baseDir, rp.issuanceRulesFile),
            authorizationRulesFile: configPath(baseDir, rp.authorizationRulesFile),
          })
        : (shared ??= genericRules());
      parties.push({
        identifier: rp.identifier,
        aliases: [],
        name: rp.name,
        replyUrls: [...rp.replyUrls],
        tokenLifetimeMinutes: rp.tokenLifetimeMinutes,
        claimsPreset: 'generic',
        rules,
        mfa: trustMfaOf(baseDir, rp.mfa),
        branding: trustBrandingOf(rp),
      });
    }
    for (const rp of parties) {
      for (const id of [rp.identifier, ...rp.aliases]) {
        const k = normaliseIdentifier(id);
        if (this.#byId.has(k))
          throw new Error(`relying party identifier ${id} is configured twice`);
        this.#byId.set(k, rp);
      }
    }
    this.#parties = Object.freeze(parties);
  }

  get parties(): readonly RelyingParty[] {
    return this.#parties;
  }

  /**
   * Attaches (or replaces) the SAML 2.0 side of a trust, keyed by the SP's entityID. A trust that already
   * exists (e.g. Microsoft 365, or a WS-Fed party with the same identifier) keeps its name, rules, MFA policy and
   * reply addresses; otherwise a SAML-only party is added with `fresh`'s name, lifetime and rules. Used at start
   * and by metadata refresh, so a swap is one assignment (requests in flight keep the object they hold).
   */
  setSaml(
    saml: SamlTrust,
    fresh: Pick<RelyingParty, 'name' | 'tokenLifetimeMinutes' | 'rules'> & {
      mfa?: TrustMfa | undefined;
      branding?: TrustBranding | undefined;
    },
  ): RelyingParty {
    const k = normaliseIdentifier(saml.metadata.entityId);
    const existing = this.#byId.get(k);
    // A SAML-only party takes its name and rules from its trust file again; any other keeps its own.
    const samlOnly = existing !== undefined && isSamlOnly(existing);
    const next: RelyingParty =
      existing !== undefined
        ? samlOnly
          ? { ...existing, ...fresh, mfa: fresh.mfa, branding: fresh.branding, saml }
          : { ...existing, saml }
        : {
            identifier: saml.metadata.entityId,
            aliases: [],
            name: fresh.name,
            replyUrls: [],
            tokenLifetimeMinutes: fresh.tokenLifetimeMinutes,
            claimsPreset: 'generic',
            rules: fresh.rules,
            saml,
            mfa: fresh.mfa,
            branding: fresh.branding,
          };
    this.#replace(existing, next);
    return next;
  }

  /** Removes the SAML 2.0 side of a trust (a SAML-only party disappears; others lose their SAML side). */
  removeSaml(entityId: string): void {
    const existing = this.#byId.get(normaliseIdentifier(entityId));
    if (existing?.saml === undefined) return;
    if (isSamlOnly(existing)) {
      for (const id of [existing.identifier, ...existing.aliases])
        this.#byId.delete(normaliseIdentifier(id));
      this.#parties = Object.freeze(this.#parties.filter((p) => p !== existing));
      return;
    }
    this.#replace(existing, {
      ...existing,
      saml: existing.identifier === MICROSOFT_365.identifier ? MICROSOFT_365_SAML : undefined,
    });
  }

  #replace(old: RelyingParty | undefined, next: RelyingParty): void {
    for (const id of [next.identifier, ...next.aliases])
      this.#byId.set(normaliseIdentifier(id), next);
    this.#parties = Object.freeze(
      old === undefined
        ? [...this.#parties, next]
        : this.#parties.map((p) => (p === old ? next : p)),
    );
  }

  /** Exact lookup (identifiers compare case-sensitively apart from a trailing slash, as AD FS does). */
  find(identifier: string): RelyingParty | undefined {
    return this.#byId.get(normaliseIdentifier(identifier));
  }
}

function isSamlOnly(rp: RelyingParty): boolean {
  return rp.replyUrls.length === 0 && rp.claimsPreset === 'generic';
}

function normaliseIdentifier(id: string): string {
  return id.endsWith('/') ? id.slice(0, -1) : id;
}

/**
 * Matches a requested reply address against the trust's registered endpoints (corpus B3.4). Parsed with the
 * WHATWG URL parser; the raw text must not carry backslashes, whitespace or control characters (parsers
 * disagree on those); https only; no userinfo; same origin and either the same path or a path under a
 * registered endpoint that ends with '/'. Returns the registered form to use, or undefined.
 */
export function matchReplyUrl(
  rp: Pick<RelyingParty, 'replyUrls'>,
  requested: string,
): string | undefined {
  // eslint-disable-next-line no-control-regex -- a reply URL with control characters is refused (no trimming)
  if (requested.length > 2048 || /[\\\s\u0000-\u001f\u007f]/.test(requested)) return undefined;
  let url: URL;
  try {
    url = new URL(requested);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '') return undefined;
  if (!requested.toLowerCase().startsWith('https://')) return undefined; // 'https:evil' style forms
  for (const registered of rp.replyUrls) {
    const reg = new URL(registered);
    if (reg.origin !== url.origin) continue;
    if (url.pathname === reg.pathname) return url.href;
    if (reg.pathname.endsWith('/') && url.pathname.startsWith(reg.pathname)) return url.href;
  }
  return undefined;
}
