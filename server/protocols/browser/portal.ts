/**
 * The self-service security-info page, /adfs/portal/ (AD FS's self-service path; issue 16 "Users manage their own
 * factors"): a signed-in user lists their second factors, renames them, removes them, and adds an authenticator app
 * (TOTP) or a security key / passkey (WebAuthn).
 *
 * - Entering needs a live SSO session whose second factor was verified. Without one, the page signs the user in
 *   through the browser pipeline as its own protocol (`portal`, portal-party.ts): a password-only session steps up,
 *   and a user with no factor meets the MFA page's first-factor enrolment, where mfa.enrolment.allow decides. This
 *   page never enrols a first factor itself.
 * - Removing or adding a factor needs a fresh second factor (mfa.freshMinutes): a stale session is sent through a
 *   `fresh` portal sign-in that verifies one again, then comes back here. Renaming needs only the session.
 * - Every post carries a token bound to the SSO session (sealed with the farm's MFA key, opening only for this
 *   session), and a browser-supplied Origin must be ours: the SSO cookie is SameSite=None (cookies.ts), so a
 *   cross-site form would otherwise carry it (corpus C5.1).
 * - A ceremony in progress (the TOTP secret waiting for its first code, a WebAuthn challenge) travels in the form
 *   sealed (AES-GCM, bound to this session, ten minutes, one use), never in clear.
 * - Every change is audited `mfa_enrolment` (by self, route mfa); every refusal `mfa_enrolment_refused`.
 */
import { createHash } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import { Secret } from 'otpauth';
import { EnrolmentError, MAX_FACTORS, newFactorId } from '../../authn/mfa/enrolments.ts';
import type { Enrolments, Factor, MfaMethod, WebAuthnFactor } from '../../authn/mfa/factors.ts';
import { newTotpSecret } from '../../authn/mfa/totp.ts';
import { registrationOptions, verifyRegistration } from '../../authn/mfa/webauthn.ts';
import type { SsoSession } from '../../authn/session.ts';
import type { DirectoryUser } from '../../directory/types.ts';
import { noStore, param, route } from '../../http/middleware.ts';
import { ROUTES } from '../../http/routes.ts';
import { FederationError } from '../../lib/errors.ts';
import * as audit from '../../observability/audit.ts';
import { Msg, type PageText } from '../../i18n/msg.ts';
import type { Services } from '../../services.ts';
import { beginSignIn } from './identify.ts';
import { safeEqual } from './pending.ts';
import { mfaIsFresh, PORTAL_MFA_ASK, PORTAL_PARTY } from './portal-party.ts';
import { currentSession } from './session.ts';
import {
  cleanName,
  MFA_PAGE_CSP,
  TOO_MANY,
  UNREADABLE,
  webauthnResponse,
  WRONG_CODE,
} from './mfa-forms.ts';

/** How long an add ceremony shown on the page stays usable. */
const CEREMONY_SECONDS = 10 * 60;
const MAX_CEREMONY = 2048;
/** Factor ids are newFactorId's (22 base64url characters); anything else is no factor of anybody's. */
const FACTOR_ID = /^[A-Za-z0-9_-]{1,64}$/;

const NOT_FOUND = 'That verification method was not found. Reload the page and try again.';
const EXPIRED = 'The setup took too long. Start again.';

/** The portal is served only where it can work: configured on, a method users can enrol, and a place to keep it. */
export function portalAvailable(s: Services): boolean {
  return (
    s.config.mfa.enrolment.portal &&
    s.mfa.enrolments !== undefined &&
    s.mfa.methods.some((m) => m === 'totp' || m === 'webauthn')
  );
}

function accountOf(user: DirectoryUser): string {
  return `guid:${user.objectGuid.toString('base64')}`;
}

/** A fixed-length name for the session in associated data (the session id itself is the cookie's secret). */
function sessionTag(session: SsoSession): string {
  return createHash('sha256').update(session.id).digest('base64url');
}

/** The form token: sealed for this session, so only a page we rendered for it has one. */
function csrfToken(s: Services, session: SsoSession): string {
  return s.mfa.pendingSealer.seal('portal', `portal-csrf:${sessionTag(session)}`);
}

/** CSRF (corpus C5.1): the session-bound token, and a browser-supplied Origin must be ours. */
function checkCsrf(s: Services, req: Request, res: Response, session: SsoSession): void {
  const token = param(req.body, 'csrf', 256) ?? '';
  const origin = req.headers.origin;
  const originOk = origin === undefined || origin === new URL(s.config.publicUrl).origin;
  const opened =
    token === ''
      ? undefined
      : s.mfa.pendingSealer.open(token, `portal-csrf:${sessionTag(session)}`);
  if (opened === undefined || !safeEqual(opened, 'portal') || !originOk) {
    audit.csrfRejected(s.audit, { ip: req.ip, activityId: res.locals.activityId, originOk });
    throw new FederationError(
      'csrf_failed',
      'The form could not be verified. Open the security info page again and retry.',
    );
  }
}

/** An add ceremony in progress, sealed into the form. */
type Ceremony =
  | { k: 'totp'; secret: string; exp: number; n: string }
  | { k: 'webauthn'; challenge: string; exp: number; n: string };

function sealCeremony(s: Services, session: SsoSession, c: Ceremony): string {
  return s.mfa.pendingSealer.seal(JSON.stringify(c), `portal-ceremony:${sessionTag(session)}`);
}

function openCeremony(
  s: Services,
  session: SsoSession,
  sealed: string,
  kind: Ceremony['k'],
): Ceremony | 'expired' | undefined {
  const plain = s.mfa.pendingSealer.open(sealed, `portal-ceremony:${sessionTag(session)}`);
  if (plain === undefined) return undefined;
  let c: unknown;
  try {
    c = JSON.parse(plain);
  } catch {
    return undefined;
  }
  if (typeof c !== 'object' || c === null) return undefined;
  const v = c as Partial<Record<string, unknown>>;
  if (v.k !== kind || typeof v.exp !== 'number' || typeof v.n !== 'string') return undefined;
  if (s.clock.now().getTime() > v.exp) return 'expired';
  if (kind === 'totp' && typeof v.secret === 'string' && /^[A-Z2-7]{16,128}$/.test(v.secret))
    return { k: 'totp', secret: v.secret, exp: v.exp, n: v.n };
  if (kind === 'webauthn' && typeof v.challenge === 'string')
    return { k: 'webauthn', challenge: v.challenge, exp: v.exp, n: v.n };
  return undefined;
}

/** One use per ceremony, across the farm (the replay namespace's set-if-absent). */
async function useCeremony(s: Services, c: Ceremony): Promise<boolean> {
  return s.store.markSeen('replay', `portal-ceremony:${c.n}`, CEREMONY_SECONDS + 60);
}

/** A factor's date in the reader's language and conventions, in UTC (the farm's nodes may sit in any zone). */
function shown(s: Services, res: Response, iso: string | undefined): string {
  if (iso === undefined) return s.views.text(res, new Msg('portal.neverUsed'));
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const locale = s.views.localeOf(res);
  const f = new Intl.DateTimeFormat(locale, {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone: 'UTC',
  });
  return `${f.format(new Date(t))} UTC`;
}

interface Live {
  session: SsoSession;
  user: DirectoryUser;
}

interface View {
  error?: PageText | undefined;
  notice?: PageText | undefined;
  blocked?: PageText | undefined;
  addTotp?: { secret: string; uri: string; ceremony: string } | undefined;
  addWebauthn?: { options: string; ceremony: string } | undefined;
}

function send(s: Services, res: Response, data: Record<string, unknown>): void {
  res.setHeader('Content-Security-Policy', MFA_PAGE_CSP);
  res
    .status(200)
    .type('html')
    .send(s.views.page(res, 'portal', data));
}

async function readOrReport(
  s: Services,
  req: Request,
  res: Response,
  user: DirectoryUser,
): Promise<Enrolments | undefined> {
  const store = s.mfa.enrolments;
  if (store === undefined) return undefined;
  try {
    return await store.read(user);
  } catch (err) {
    if (!(err instanceof EnrolmentError)) throw err;
    audit.mfaUnreadable(s.audit, {
      outcome: 'unreadable',
      method: 'totp',
      reason: err.kind,
      account: accountOf(user),
      rp: PORTAL_PARTY.identifier,
      activityId: res.locals.activityId,
      ip: req.ip,
    });
    return undefined;
  }
}

async function render(
  s: Services,
  req: Request,
  res: Response,
  live: Live,
  v: View = {},
): Promise<void> {
  const base = {
    action: `${ROUTES.portal}/`,
    // The language picker comes back here (this page also answers POSTs).
    returnTo: `${ROUTES.portal}/`,
    csrf: csrfToken(s, live.session),
    user: live.user.userPrincipalName ?? live.user.windowsAccountName,
    error: v.error,
    notice: v.notice,
  };
  const e = await readOrReport(s, req, res, live.user);
  if (e === undefined) {
    send(s, res, { ...base, blocked: UNREADABLE });
    return;
  }
  const factors = e.factors.map((f) => ({
    id: f.id,
    name: f.name,
    kind: s.views.text(res, new Msg(`portal.kind.${f.kind}`)),
    addedLine: s.views.text(
      res,
      new Msg('portal.added', {
        created: shown(s, res, f.createdAt),
        lastUsed: shown(s, res, f.lastUsedAt),
      }),
    ),
  }));
  const methods = s.mfa.methods;
  const room = e.factors.length < MAX_FACTORS;
  send(s, res, {
    ...base,
    blocked: v.blocked,
    factors,
    none: factors.length === 0,
    canAddTotp: room && methods.includes('totp') && v.addTotp === undefined,
    canAddWebauthn: room && methods.includes('webauthn') && v.addWebauthn === undefined,
    addTotp: v.addTotp,
    addWebauthn: v.addWebauthn,
    script: v.addWebauthn !== undefined,
  });
}

/** Signs the user in for the portal (pipeline), then the browser comes back here. */
function signInForPortal(s: Services, req: Request, res: Response, fresh: boolean): Promise<void> {
  return beginSignIn(s, req, res, {
    request: { protocol: 'portal', ...(fresh ? { fresh: true } : {}) },
    rp: PORTAL_PARTY,
    force: false,
    mfaAsk: PORTAL_MFA_ASK,
  });
}

/** The live session with a verified second factor, or undefined (the caller starts a sign-in). */
async function liveWithMfa(s: Services, req: Request, res: Response): Promise<Live | undefined> {
  const current = await currentSession(s, req, res);
  if (current?.session.mfa === undefined) return undefined;
  return current;
}

async function portalGet(s: Services, req: Request, res: Response): Promise<void> {
  const live = await liveWithMfa(s, req, res);
  if (live === undefined) return signInForPortal(s, req, res, false);
  await render(s, req, res, live);
}

function refused(
  s: Services,
  req: Request,
  res: Response,
  live: Live,
  reason: audit.MfaEnrolmentRefusedEvent['reason'],
  method?: MfaMethod,
): void {
  audit.mfaEnrolmentRefused(s.audit, {
    reason,
    account: accountOf(live.user),
    ...(method === undefined || method === 'radius' ? {} : { method }),
    activityId: res.locals.activityId,
    ip: req.ip,
  });
}

function changed(
  s: Services,
  req: Request,
  res: Response,
  live: Live,
  action: 'added' | 'removed' | 'renamed',
  factor: Pick<Factor, 'id' | 'kind'>,
  remaining: number,
): void {
  audit.mfaEnrolment(s.audit, {
    action,
    account: accountOf(live.user),
    upn: live.user.userPrincipalName,
    method: factor.kind,
    factorId: factor.id,
    // Removed: how many factors are left (0: the last one went; allowed, the user may enrol again by policy).
    ...(action === 'removed' ? { count: remaining } : {}),
    by: 'self',
    route: 'mfa',
    activityId: res.locals.activityId,
    ip: req.ip,
  });
}

/** The factor a post names, from the user's own record only (another account's id is simply not there). */
function factorIdOf(body: unknown): string | undefined {
  const id = param(body, 'FactorId', 128) ?? '';
  return FACTOR_ID.test(id) ? id : undefined;
}

async function portalPost(s: Services, req: Request, res: Response): Promise<void> {
  const body: unknown = req.body;
  const action = param(body, 'Action', 32) ?? '';
  // The pipeline's return (protocols.ts issueFor 'portal'): nothing to do but show the page.
  if (action === '') {
    res.redirect(303, `${ROUTES.portal}/`);
    return;
  }
  const live = await liveWithMfa(s, req, res);
  if (live === undefined) return signInForPortal(s, req, res, false);
  checkCsrf(s, req, res, live.session);
  switch (action) {
    case 'rename':
      return rename(s, req, res, live);
    case 'remove':
      return remove(s, req, res, live);
    case 'add-totp':
    case 'add-webauthn':
      return startAdd(s, req, res, live, action === 'add-totp' ? 'totp' : 'webauthn');
    case 'confirm-totp':
      return confirmTotp(s, req, res, live);
    case 'confirm-webauthn':
      return confirmWebauthn(s, req, res, live);
    default:
      throw new FederationError('bad_request', 'The security info form is malformed.', {
        detail: `unexpected portal action ${action.slice(0, 32)}`,
      });
  }
}

/**
 * Applies `change` to the signed-in user's factor named by the form's FactorId, in one compare-and-swap. Answers the
 * page itself and gives undefined when the record does not open or holds no such factor (any more).
 */
async function changeFactor(
  s: Services,
  req: Request,
  res: Response,
  live: Live,
  change: (cur: Enrolments, factor: Factor) => Enrolments,
): Promise<{ factor: Factor; after: Enrolments } | undefined> {
  const store = s.mfa.enrolments;
  if (store === undefined) throw new FederationError('not_found', 'Not found.');
  const id = factorIdOf(req.body);
  const e = await readOrReport(s, req, res, live.user);
  if (e === undefined) {
    await render(s, req, res, live);
    return undefined;
  }
  const factor = id === undefined ? undefined : e.factors.find((f) => f.id === id);
  // An object, not a let: the type checker does not see the callback's assignment to a local.
  const seen = { found: false };
  const after =
    factor === undefined
      ? undefined
      : await store.update(live.user, (cur) => {
          const now = cur.factors.find((f) => f.id === factor.id);
          seen.found = now !== undefined;
          return now === undefined ? cur : change(cur, now);
        });
  if (factor === undefined || after === undefined || !seen.found) {
    refused(s, req, res, live, 'invalid');
    await render(s, req, res, live, { error: NOT_FOUND });
    return undefined;
  }
  return { factor, after };
}

async function rename(s: Services, req: Request, res: Response, live: Live): Promise<void> {
  const name = cleanName(param(req.body, 'FactorName', 256));
  if (name === undefined) {
    await render(s, req, res, live, { error: 'Enter a name.' });
    return;
  }
  const done = await changeFactor(s, req, res, live, (cur, factor) => ({
    ...cur,
    factors: cur.factors.map((f) => (f.id === factor.id ? { ...f, name } : f)),
  }));
  if (done === undefined) return;
  changed(s, req, res, live, 'renamed', done.factor, done.after.factors.length);
  await render(s, req, res, live, { notice: 'Renamed.' });
}

async function remove(s: Services, req: Request, res: Response, live: Live): Promise<void> {
  if (s.mfa.enrolments === undefined) throw new FederationError('not_found', 'Not found.');
  if (!mfaIsFresh(s, live.session.mfa)) return signInForPortal(s, req, res, true);
  const done = await changeFactor(s, req, res, live, (cur, factor) => ({
    ...cur,
    factors: cur.factors.filter((f) => f.id !== factor.id),
  }));
  if (done === undefined) return;
  changed(s, req, res, live, 'removed', done.factor, done.after.factors.length);
  await render(s, req, res, live, {
    notice:
      done.after.factors.length === 0
        ? 'Removed. You have no verification method left: you will be asked to set one up when you next sign in, where your organisation allows it.'
        : 'Removed.',
  });
}

async function startAdd(
  s: Services,
  req: Request,
  res: Response,
  live: Live,
  kind: 'totp' | 'webauthn',
): Promise<void> {
  if (!s.mfa.methods.includes(kind))
    throw new FederationError('bad_request', 'This verification method is not offered here.');
  if (!mfaIsFresh(s, live.session.mfa)) return signInForPortal(s, req, res, true);
  const e = await readOrReport(s, req, res, live.user);
  if (e === undefined) return render(s, req, res, live);
  if (e.factors.length === 0) {
    // A first factor is enrolled only on the MFA page, where mfa.enrolment.allow decides (issue 16: the admin's
    // policy); a session whose factors were all removed is not a route around it.
    refused(s, req, res, live, 'policy', kind);
    await render(s, req, res, live, {
      error:
        'You have no verification method left. Sign out and sign in again to set one up, where your organisation allows it.',
    });
    return;
  }
  if (e.factors.length >= MAX_FACTORS) {
    refused(s, req, res, live, 'too_many', kind);
    await render(s, req, res, live, { error: TOO_MANY });
    return;
  }
  const exp = s.clock.now().getTime() + CEREMONY_SECONDS * 1000;
  const n = s.random.token();
  if (kind === 'totp') {
    const c = { k: 'totp' as const, secret: newTotpSecret(s.random).base32, exp, n };
    await render(s, req, res, live, { addTotp: totpView(s, live, c) });
    return;
  }
  const keys = e.factors.filter((f): f is WebAuthnFactor => f.kind === 'webauthn');
  const o = await registrationOptions(
    s.mfa.webauthn,
    {
      id: live.user.objectGuid,
      name: live.user.userPrincipalName ?? live.user.windowsAccountName,
      displayName: live.user.displayName ?? live.user.windowsAccountName,
    },
    keys,
  );
  await render(s, req, res, live, {
    addWebauthn: {
      options: JSON.stringify(o.options),
      ceremony: sealCeremony(s, live.session, { k: 'webauthn', challenge: o.challenge, exp, n }),
    },
  });
}

/** The authenticator-app setup shown on the page: the secret (grouped for typing), its otpauth URI, the ceremony. */
function totpView(
  s: Services,
  live: Live,
  c: Extract<Ceremony, { k: 'totp' }>,
): NonNullable<View['addTotp']> {
  const issuer = s.config.mfa.totp.issuer ?? s.config.displayName;
  const label = live.user.userPrincipalName ?? live.user.windowsAccountName;
  return {
    secret: (c.secret.match(/.{1,4}/g) ?? []).join(' '),
    uri: `otpauth://totp/${encodeURIComponent(`${issuer}:${label}`)}?${new URLSearchParams({ secret: c.secret, issuer, algorithm: 'SHA1', digits: '6', period: '30' }).toString()}`,
    ceremony: sealCeremony(s, live.session, c),
  };
}

/** Saves a new factor (bounded by MAX_FACTORS and the attribute's size) and audits it. */
async function save(
  s: Services,
  req: Request,
  res: Response,
  live: Live,
  factor: Factor,
): Promise<void> {
  const store = s.mfa.enrolments;
  if (store === undefined) throw new FederationError('not_found', 'Not found.');
  let after: Enrolments;
  try {
    after = await store.update(live.user, (cur) => {
      if (cur.factors.length >= MAX_FACTORS)
        throw new EnrolmentError('too-large', `more than ${MAX_FACTORS} factors`);
      return { ...cur, factors: [...cur.factors, factor] };
    });
  } catch (err) {
    if (err instanceof EnrolmentError && err.kind === 'too-large') {
      refused(s, req, res, live, 'too_many', factor.kind);
      await render(s, req, res, live, { error: TOO_MANY });
      return;
    }
    throw err;
  }
  changed(s, req, res, live, 'added', factor, after.factors.length);
  await render(s, req, res, live, { notice: new Msg('msg.factorAdded', { name: factor.name }) });
}

async function confirmTotp(s: Services, req: Request, res: Response, live: Live): Promise<void> {
  if (!s.mfa.methods.includes('totp'))
    throw new FederationError('bad_request', 'This verification method is not offered here.');
  const c = openCeremony(s, live.session, param(req.body, 'Ceremony', MAX_CEREMONY) ?? '', 'totp');
  if (c === undefined) {
    refused(s, req, res, live, 'invalid', 'totp');
    throw new FederationError('bad_request', 'The security info form is malformed.', {
      detail: 'portal TOTP ceremony does not open for this session',
    });
  }
  if (c === 'expired' || c.k !== 'totp') {
    await render(s, req, res, live, { error: EXPIRED });
    return;
  }
  const code = (param(req.body, 'Code', 32) ?? '').replace(/\s+/g, '');
  const name = cleanName(param(req.body, 'FactorName', 256)) ?? 'Authenticator app';
  const r = await s.mfa.totp.verify(
    accountOf(live.user),
    Buffer.from(Secret.fromBase32(c.secret).bytes),
    code,
  );
  if (!r.ok) {
    // Counted by the verifier in the shared MFA lockout, like a wrong code on the MFA page (mfa.ts).
    if (r.reason !== 'malformed' && r.reason !== 'locked') {
      const fields = {
        account: accountOf(live.user),
        activityId: res.locals.activityId,
        ip: req.ip,
      };
      audit.mfaFailed(s.audit, {
        ...fields,
        rp: PORTAL_PARTY.identifier,
        outcome: 'failure',
        method: 'totp',
        reason: r.reason,
        failures: r.failures,
        factorId: 'new',
      });
      if (r.failures === s.mfa.lockout.threshold)
        audit.mfaLockedOut(s.audit, {
          ...fields,
          method: 'totp',
          failures: r.failures,
          until: new Date(
            s.clock.now().getTime() + s.config.mfa.lockout.durationMinutes * 60_000,
          ).toISOString(),
        });
    }
    const error =
      r.reason === 'malformed'
        ? 'Enter the 6-digit code your authenticator app shows.'
        : r.reason === 'locked'
          ? 'Too many wrong verification attempts. Wait a few minutes, then try again.'
          : WRONG_CODE;
    await render(s, req, res, live, { error, addTotp: totpView(s, live, c) });
    return;
  }
  if (!(await useCeremony(s, c))) {
    await render(s, req, res, live, { error: EXPIRED });
    return;
  }
  await save(s, req, res, live, {
    kind: 'totp',
    id: newFactorId(s.random),
    name,
    createdAt: s.clock.now().toISOString(),
    secret: c.secret,
  });
}

async function confirmWebauthn(
  s: Services,
  req: Request,
  res: Response,
  live: Live,
): Promise<void> {
  if (!s.mfa.methods.includes('webauthn'))
    throw new FederationError('bad_request', 'This verification method is not offered here.');
  const c = openCeremony(
    s,
    live.session,
    param(req.body, 'Ceremony', MAX_CEREMONY) ?? '',
    'webauthn',
  );
  if (c === undefined) {
    refused(s, req, res, live, 'invalid', 'webauthn');
    throw new FederationError('bad_request', 'The security info form is malformed.', {
      detail: 'portal WebAuthn ceremony does not open for this session',
    });
  }
  if (c === 'expired' || c.k !== 'webauthn' || !(await useCeremony(s, c))) {
    await render(s, req, res, live, { error: EXPIRED });
    return;
  }
  const response = webauthnResponse(req.body);
  const e = await readOrReport(s, req, res, live.user);
  if (e === undefined) return render(s, req, res, live);
  const existing = e.factors.filter((f): f is WebAuthnFactor => f.kind === 'webauthn');
  const r =
    response === undefined
      ? ({ ok: false, reason: 'malformed' } as const)
      : await verifyRegistration(s.mfa.webauthn, response, c.challenge, existing);
  if (!r.ok) {
    refused(
      s,
      req,
      res,
      live,
      r.reason === 'aaguid' || r.reason === 'attestation' || r.reason === 'duplicate'
        ? r.reason
        : 'invalid',
      'webauthn',
    );
    await render(s, req, res, live, {
      error:
        r.reason === 'aaguid' || r.reason === 'attestation'
          ? 'This security key is not one your organisation allows.'
          : r.reason === 'duplicate'
            ? 'This security key is already registered to your account.'
            : 'The security key could not be registered. Try again.',
    });
    return;
  }
  await save(s, req, res, live, {
    ...r.credential,
    kind: 'webauthn',
    id: newFactorId(s.random),
    name: cleanName(param(req.body, 'FactorName', 256)) ?? 'Security key',
    createdAt: s.clock.now().toISOString(),
  });
}

/** /adfs/portal/ (mounted at ROUTES.portal when portalAvailable). Paths below it (theme, updatepassword) pass. */
export function portalRouter(s: Services): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  router.get(
    '/',
    noStore,
    route((req, res) => portalGet(s, req, res)),
  );
  router.post(
    '/',
    noStore,
    express.urlencoded({ extended: false, limit: '48kb', parameterLimit: 16 }),
    route((req, res) => portalPost(s, req, res)),
  );
  router.all('/', (_req, _res, next) => {
    next(new FederationError('method_not_allowed', 'This address accepts only GET and POST.'));
  });
  return router;
}
