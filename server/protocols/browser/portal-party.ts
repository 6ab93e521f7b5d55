/**
 * The self-service security-info page (/adfs/portal/, issue 16 "Users manage their own factors") signs users in
 * through the same browser pipeline as any relying party, as its own protocol member (`portal`, pending.ts). Its
 * party is this built-in one, made once here: it is not a trust (the registry never lists it, metadata never names
 * it), it has no reply address (the pipeline's answer is a plain post back to /adfs/portal/, protocols.ts) and no
 * claim rules (no token is ever issued for it).
 */
import type { MfaDone } from '../../authn/session.ts';
import type { Config } from '../../config/schema.ts';
import type { Clock } from '../../lib/clock.ts';
import type { RelyingParty } from '../../trust/registry.ts';

export const PORTAL_PARTY_ID = 'urn:fedgate:portal';

export const PORTAL_PARTY: RelyingParty = Object.freeze({
  identifier: PORTAL_PARTY_ID,
  aliases: [],
  name: 'Security info',
  replyUrls: [],
  tokenLifetimeMinutes: 1,
  claimsPreset: 'generic' as const,
  // Empty sets: nothing is issued, and an empty authorization set permits no one should anything ever try.
  rules: Object.freeze({
    issuance: Object.freeze({ source: 'built-in security info page', rules: [] }),
    authorization: Object.freeze({ source: 'built-in security info page', rules: [] }),
  }),
});

/**
 * Entering the portal always needs a second factor: its sign-in asks for one the way a WS-Fed party does
 * (wauth=…multipleauthn), so a password-only session steps up, and a user without any factor meets the MFA page's
 * first-factor enrolment (mfa.enrolment.allow decides there, nowhere else).
 */
// Typed here rather than as pending.ts MfaAsk: pending.ts imports this module (no import circle).
export const PORTAL_MFA_ASK: { readonly protocol: 'wsfed'; readonly wauth: string } = Object.freeze(
  {
    protocol: 'wsfed' as const,
    wauth: 'http://schemas.microsoft.com/claims/multipleauthn',
  },
);

/**
 * Whether a session's second factor is recent enough for a sensitive change (removing or adding a factor):
 * verified at most mfa.freshMinutes ago. A stale one is stepped up again (additional.ts, `fresh` portal requests).
 */
export function mfaIsFresh(
  s: { clock: Clock; config: Pick<Config, 'mfa'> },
  mfa: MfaDone | undefined,
): boolean {
  if (mfa === undefined) return false;
  const at = Date.parse(mfa.instant);
  if (!Number.isFinite(at)) return false;
  return s.clock.now().getTime() - at <= s.config.mfa.freshMinutes * 60_000;
}
