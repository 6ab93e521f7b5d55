/**
 * The second-factor page of a sign-in (issue 16): shown by the additional step (additional.ts) when a second factor
 * is required, and again after each answer (mfa.ts). It shows what the pending sign-in's MfaState calls for: the
 * methods the user has, an open RADIUS challenge, the first-factor enrolment the policy allows, or why none can be
 * done. Kept apart from mfa.ts (which continues the pipeline) so the steps import no circle.
 */
import type { Request, Response } from 'express';
import { EnrolmentError } from '../../authn/mfa/enrolments.ts';
import {
  EMPTY_ENROLMENTS,
  type Enrolments,
  type MfaMethod,
  type TotpFactor,
  type WebAuthnFactor,
} from '../../authn/mfa/factors.ts';
import { newTotpSecret } from '../../authn/mfa/totp.ts';
import { authenticationOptions, registrationOptions } from '../../authn/mfa/webauthn.ts';
import { AuthMethods } from '../../claims/types.ts';
import type { DirectoryUser } from '../../directory/types.ts';
import { ROUTES } from '../../http/routes.ts';
import { insideCorporateNetwork } from '../../lib/ip.ts';
import * as audit from '../../observability/audit.ts';
import type { PageText } from '../../i18n/msg.ts';
import type { Services } from '../../services.ts';
import type { RelyingParty } from '../../trust/registry.ts';
import type { SignInContext } from './context.ts';
import { MFA_PAGE_CSP, UNREADABLE } from './mfa-forms.ts';
import {
  keepPending,
  loadPending,
  updatePending,
  type MfaState,
  type PendingSignIn,
} from './pending.ts';

const LOCKED =
  'Too many wrong verification attempts. Wait a few minutes, then go back to the application and sign in again.';
const NO_METHOD =
  'This application needs a second verification step, but no verification method is set up for your account. Contact your helpdesk.';

/** The account key of the MFA lockout, replay records and audit: the objectGUID, never the name typed. */
export function accountOf(guidB64: string): string {
  return `guid:${guidB64}`;
}

export interface Shown {
  pendingId: string;
  pending: PendingSignIn & { mfa: MfaState };
  rp: RelyingParty;
  user: DirectoryUser;
  error?: PageText | undefined;
  notice?: PageText | undefined;
}

/**
 * From the additional step: the sign-in needs a second factor. Keeps (or reuses) the pending sign-in with the MFA
 * state and shows the page.
 */
export async function startMfa(ctx: SignInContext, reasons: string[]): Promise<void> {
  const { s, req, res } = ctx;
  const fresh = ctx.fresh;
  const session = ctx.session;
  const primary: MfaState['primary'] =
    fresh !== undefined
      ? {
          authMethod: fresh.authMethod,
          authInstant: fresh.authInstant.toISOString(),
          certificate: fresh.certificate,
        }
      : {
          authMethod: session?.authMethod ?? '',
          authInstant: session?.authInstant ?? '',
          certificate: session?.certificate,
        };
  let pendingId = ctx.pendingId;
  let pending: PendingSignIn;
  if (pendingId === undefined) {
    // A live session steps up: the request is kept like a new sign-in's, bound to this browser.
    ({ pendingId, pending } = await keepPending(s, req, res, {
      request: ctx.request,
      rp: ctx.rp,
      mfaAsk: ctx.ask,
    }));
  } else {
    pending = (await loadPending(s, pendingId)).pending;
  }
  const guid = ctx.user.objectGuid.toString('base64');
  const withMfa = { ...pending, mfa: { user: guid, primary, reasons } };
  audit.mfaRequired(s.audit, {
    activityId: res.locals.activityId,
    ip: req.ip,
    account: accountOf(guid),
    upn: ctx.user.userPrincipalName,
    rp: ctx.rp.identifier,
    protocol: ctx.request.protocol,
    reasons,
    outcome: 'challenge',
  });
  await showMfa(s, req, res, { pendingId, pending: withMfa, rp: ctx.rp, user: ctx.user });
}

/** The user's enrolments; undefined (after an audit line) when the record does not open. */
export async function readEnrolments(
  s: Services,
  res: Response,
  req: Request,
  p: Pick<Shown, 'user' | 'rp'>,
): Promise<Enrolments | undefined> {
  const store = s.mfa.enrolments;
  if (store === undefined) return EMPTY_ENROLMENTS;
  try {
    return await store.read(p.user);
  } catch (err) {
    if (!(err instanceof EnrolmentError)) throw err;
    audit.mfaUnreadable(s.audit, {
      outcome: 'unreadable',
      method: 'totp',
      reason: err.kind,
      account: accountOf(p.user.objectGuid.toString('base64')),
      rp: p.rp.identifier,
      activityId: res.locals.activityId,
      ip: req.ip,
    });
    return undefined;
  }
}

/** How a user without factors may enrol here, if at all (mfa.enrolment.allow). */
function enrolRoute(
  s: Services,
  req: Request,
  state: MfaState,
): 'intranet' | 'certificate' | undefined {
  const allow = s.config.mfa.enrolment.allow;
  if (allow.includes('certificate') && state.primary.authMethod === AuthMethods.tlsClient)
    return 'certificate';
  if (
    allow.includes('intranet') &&
    insideCorporateNetwork({ corporateNetworks: s.config.corporateNetworks }, req.ip)
  )
    return 'intranet';
  return undefined;
}

export function enrollable(s: Services): MfaMethod[] {
  return s.mfa.methods.filter((m) => m !== 'radius');
}

/** Renders the page for the state the pending sign-in is in, and saves that state. */
export async function showMfa(s: Services, req: Request, res: Response, p: Shown): Promise<void> {
  const state = p.pending.mfa;
  const account = accountOf(state.user);
  const base = {
    relyingPartyName: p.rp.name,
    authState: p.pendingId,
    csrf: p.pending.csrf,
    action: ROUTES.mfa,
    error: p.error,
    notice: p.notice,
    returnTo: `${ROUTES.passive}/?${new URLSearchParams({ AuthState: p.pendingId }).toString()}`,
  };
  res.locals.localeHints ??= p.pending.localeHints;
  const send = (data: Record<string, unknown>): void => {
    res.setHeader('Content-Security-Policy', MFA_PAGE_CSP);
    res
      .status(200)
      .type('html')
      .send(s.views.page(res, 'mfa', { ...base, ...data }, { rp: p.rp }));
  };
  if (await s.mfa.lockout.locked(account)) {
    send({ blocked: LOCKED, error: undefined });
    return;
  }
  const enrolments = await readEnrolments(s, res, req, p);
  if (enrolments === undefined) {
    send({ blocked: UNREADABLE, error: undefined });
    return;
  }
  // An open RADIUS challenge: only its answer is asked for.
  if (state.radius !== undefined) {
    await updatePending(s, p.pendingId, p.pending);
    send({ radius: true, radiusPrompt: state.radius.message ?? 'Enter the response.' });
    return;
  }
  const methods = s.mfa.methods;
  const totp = enrolments.factors.filter((f): f is TotpFactor => f.kind === 'totp');
  const keys = enrolments.factors.filter((f): f is WebAuthnFactor => f.kind === 'webauthn');
  const offerTotp = methods.includes('totp') && totp.length > 0;
  const offerKeys = methods.includes('webauthn') && keys.length > 0;
  const offerRadius = methods.includes('radius');
  if (state.enrol === undefined && (offerTotp || offerKeys || offerRadius)) {
    let webauthnOptions: string | undefined;
    if (offerKeys) {
      const o = await authenticationOptions(s.mfa.webauthn, keys);
      state.webauthnChallenge = o.challenge;
      webauthnOptions = JSON.stringify(o.options);
    }
    await updatePending(s, p.pendingId, p.pending);
    send({
      totp: offerTotp,
      totpChoice: totp.length > 1 ? totp.map((f) => ({ id: f.id, name: f.name })) : undefined,
      webauthn: offerKeys,
      webauthnOptions,
      radius: offerRadius,
      radiusPrompt: 'Enter the code from your token, or "push" to approve on your phone.',
      script: offerKeys,
    });
    return;
  }
  // No factor yet: enrol the first one where the policy allows it.
  const canEnrol = s.mfa.enrolments !== undefined && enrollable(s).length > 0;
  if (state.enrol === undefined && canEnrol) {
    const route = enrolRoute(s, req, state);
    if (route !== undefined) state.enrol = { route };
  }
  if (state.enrol !== undefined && canEnrol) {
    const data: Record<string, unknown> = { enrol: true };
    if (enrollable(s).includes('totp')) {
      let sealed = state.enrol.totpSecret;
      let base32 = sealed === undefined ? undefined : s.mfa.pendingSealer.open(sealed, p.pendingId);
      if (base32 === undefined) {
        base32 = newTotpSecret(s.random).base32;
        sealed = s.mfa.pendingSealer.seal(base32, p.pendingId);
        state.enrol.totpSecret = sealed;
      }
      const issuer = s.config.mfa.totp.issuer ?? s.config.displayName;
      const label = p.user.userPrincipalName ?? p.user.windowsAccountName;
      data.enrolTotp = true;
      data.totpSecret = (base32.match(/.{1,4}/g) ?? []).join(' ');
      data.totpUri = `otpauth://totp/${encodeURIComponent(`${issuer}:${label}`)}?${new URLSearchParams({ secret: base32, issuer, algorithm: 'SHA1', digits: '6', period: '30' }).toString()}`;
    }
    if (enrollable(s).includes('webauthn')) {
      const o = await registrationOptions(
        s.mfa.webauthn,
        {
          id: p.user.objectGuid,
          name: p.user.userPrincipalName ?? p.user.windowsAccountName,
          displayName: p.user.displayName ?? p.user.windowsAccountName,
        },
        [],
      );
      state.webauthnChallenge = o.challenge;
      data.enrolWebauthn = true;
      data.webauthnOptions = JSON.stringify(o.options);
      data.script = true;
    }
    await updatePending(s, p.pendingId, p.pending);
    send(data);
    return;
  }
  if (canEnrol && s.config.mfa.enrolment.allow.includes('code')) {
    await updatePending(s, p.pendingId, p.pending);
    send({ enrolCode: true });
    return;
  }
  audit.mfaEnrolmentRefused(s.audit, {
    reason: 'policy',
    account,
    activityId: res.locals.activityId,
    ip: req.ip,
  });
  send({ blocked: NO_METHOD, error: undefined });
}

/** A user-chosen factor name: plain, short, printable; a default otherwise. */
