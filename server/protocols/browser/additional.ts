/**
 * Step 4, additional authentication (issue 16): does this sign-in need a second factor, and has it one?
 *
 * Required when any source asks (authn/mfa/policy.ts decideMfa): the global and the trust's AD FS
 * AdditionalAuthenticationRules and access-control-policy presets, run on the claims engine with AD FS's input
 * claims (group SIDs, insidecorporatenetwork from corporateNetworks), and what the request asked for (WS-Fed
 * wauth=…multipleauthn, a SAML RequestedAuthnContext only a second factor satisfies).
 *
 * A live SSO session whose second factor was verified satisfies it; a session made with a password alone does not:
 * the user steps up (mfa.ts), and the session is replaced by a new one that records both factors. When nothing can
 * require MFA (no rules, no presets, no request) the claims engine is not run at all.
 */
import type { CertificateContext } from '../../authn/certificate/context.ts';
import {
  decideMfa,
  describeMfaReason,
  hasRuleSources,
  samlRequestReason,
  wsfedRequestReason,
  type MfaReason,
} from '../../authn/mfa/policy.ts';
import { FederationError } from '../../lib/errors.ts';
import { requestContextOf } from '../issuance/request-context.ts';
import type { SignInContext, Step } from './context.ts';
import { sendFormPost } from './form-post.ts';
import { startMfa } from './mfa-page.ts';
import { passiveRefusal } from './protocols.ts';
import { methodOfSession, type MfaAsk } from './pending.ts';
import { mfaIsFresh } from './portal-party.ts';
import { ROUTES } from '../../http/routes.ts';

/** What the request asked, judged against the primary method the user signed in with. */
function askReasons(ask: MfaAsk | undefined, primary: 'password' | 'certificate'): MfaReason[] {
  if (ask === undefined) return [];
  const r =
    ask.protocol === 'wsfed'
      ? wsfedRequestReason(ask.wauth)
      : samlRequestReason(ask.context, primary);
  return r === undefined ? [] : [r];
}

/** The primary authentication of this sign-in: the fresh one, or the live session's. */
function primaryOf(ctx: SignInContext): {
  authMethod: string;
  authInstant: Date;
  certificate?: CertificateContext | undefined;
} {
  if (ctx.fresh !== undefined)
    return {
      authMethod: ctx.fresh.authMethod,
      authInstant: ctx.fresh.authInstant,
      certificate: ctx.fresh.certificate,
    };
  const session = ctx.session;
  if (session === undefined)
    throw new FederationError('internal', 'A sign-in reached additional with no authentication.');
  return {
    authMethod: session.authMethod,
    authInstant: new Date(session.authInstant),
    certificate: session.certificate,
  };
}

export const additional: Step = async (ctx) => {
  // Already done in this sign-in (the MFA page's success), or in the live session it reuses.
  if (ctx.fresh?.mfa !== undefined) return { next: 'establish' };
  if (ctx.fresh === undefined && ctx.session?.mfa !== undefined) {
    // The security-info page demands a recent second factor for sensitive changes (mfa.freshMinutes): a stale one
    // is verified again, and the new session records the new instant.
    if (ctx.request.protocol !== 'portal' || ctx.request.fresh !== true)
      return { next: 'establish' };
    if (mfaIsFresh(ctx.s, ctx.session.mfa)) return { next: 'establish' };
    await startMfa(ctx, [
      `portal: second factor older than ${String(ctx.s.config.mfa.freshMinutes)} minutes`,
    ]);
    return { answered: true };
  }
  const { s } = ctx;
  const primary = primaryOf(ctx);
  const requested = askReasons(ctx.ask, methodOfSession(primary.authMethod));
  const sets = s.mfaPolicies.setsFor(ctx.rp);
  if (!hasRuleSources(sets) && requested.length === 0) return { next: 'establish' };
  // Only the request asks (Entra's wauth, a SAML context, a step-up): no rule to run, so no claims engine and no
  // directory read of the user's groups here (the issuance step reads them once).
  const decision = hasRuleSources(sets)
    ? await decideMfa({
        engine: s.claims,
        sets,
        auth: {
          user: ctx.user,
          method: primary.authMethod,
          instant: primary.authInstant,
          certificate: primary.certificate,
        },
        request: requestContextOf(ctx.req, `${ROUTES.passive}/`, {
          corporateNetworks: s.config.corporateNetworks,
        }),
        requested,
      })
    : { required: true, reasons: requested };
  if (!decision.required) return { next: 'establish' };
  if (ctx.passive === true) {
    // IsPassive (SAML Core §3.4.1): the second factor cannot be asked for, so the session does not satisfy the
    // request; the protocol answers NoPassive.
    sendFormPost(s, ctx.res, passiveRefusal(s, ctx.res, ctx.request, ctx.rp));
    return { answered: true };
  }
  await startMfa(ctx, decision.reasons.map(describeMfaReason));
  return { answered: true };
};
