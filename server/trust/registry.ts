import type { RelyingPartyConfig } from '../config/schema.ts';

export type ClaimsPreset = 'microsoft365' | 'generic';

/** A relying-party trust: who may ask for tokens, where tokens may be delivered, and how. */
export interface RelyingParty {
  identifier: string;
  /** Other identifiers that name the same trust (e.g. extSTS.srf for Microsoft 365 active clients). */
  aliases: string[];
  name: string;
  /** Registered reply endpoints; the first is the default. Tokens are only ever posted to one of these. */
  replyUrls: string[];
  tokenLifetimeMinutes: number;
  claimsPreset: ClaimsPreset;
}

/** The Microsoft 365 trust AD FS calls "Microsoft Office 365 Identity Platform" (entra-protocol.md §1.2, §6). */
export const MICROSOFT_365: RelyingParty = Object.freeze({
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
const TEST_RELYING_PARTY: RelyingParty = Object.freeze({
  identifier: TEST_RELYING_PARTY_ID,
  aliases: [],
  name: 'fedgate token test page',
  replyUrls: [],
  tokenLifetimeMinutes: 60,
  claimsPreset: 'microsoft365' as const,
});

export class TrustRegistry {
  readonly #byId = new Map<string, RelyingParty>();
  readonly parties: readonly RelyingParty[];

  constructor(
    configured: readonly RelyingPartyConfig[],
    opts: { testRelyingPartyReply?: string | undefined } = {},
  ) {
    const parties: RelyingParty[] = [MICROSOFT_365];
    if (opts.testRelyingPartyReply !== undefined) {
      parties.push({ ...TEST_RELYING_PARTY, replyUrls: [opts.testRelyingPartyReply] });
    }
    for (const rp of configured) {
      parties.push({
        identifier: rp.identifier,
        aliases: [],
        name: rp.name,
        replyUrls: [...rp.replyUrls],
        tokenLifetimeMinutes: rp.tokenLifetimeMinutes,
        claimsPreset: 'generic',
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
    this.parties = Object.freeze(parties);
  }

  /** Exact lookup (identifiers compare case-sensitively apart from a trailing slash, as AD FS does). */
  find(identifier: string): RelyingParty | undefined {
    return this.#byId.get(normaliseIdentifier(identifier));
  }
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
export function matchReplyUrl(rp: RelyingParty, requested: string): string | undefined {
  // eslint-disable-next-line no-control-regex
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
