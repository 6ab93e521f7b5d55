/**
 * The protocol-neutral part of a browser sign-in, shared by WS-Federation (wsfed/passive.ts) and SAML 2.0
 * (saml2/sso.ts): a validated request is kept server-side as a pending sign-in (the form carries only its
 * handle), the sign-in form is shown, credentials are checked, an SSO session is created, and the protocol's
 * own issuer posts the token. Each protocol registers one issuer under its name; the pending request records
 * which protocol it came from and carries that protocol's state (JSON) untouched.
 *
 * It lives under protocols/ (not authn/) because it speaks HTTP: cookies, forms, CSRF (architecture.md layering).
 */
import { timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { authenticateWithPassword } from '../authn/password.ts';
import type { CertificateContext } from '../authn/certificate/context.ts';
import type { SsoSession } from '../authn/session.ts';
import { AuthMethods } from '../claims/types.ts';
import type { DirectoryUser } from '../directory/types.ts';
import { createHash } from 'node:crypto';
import { clearCookie, readCookie, setCookie, SIGNIN_COOKIE, SSO_COOKIE } from '../http/cookies.ts';
import { param } from '../http/middleware.ts';
import { FederationError } from '../lib/errors.ts';
import type { Services } from '../services.ts';
import type { RelyingParty } from '../trust/registry.ts';
import { offerPasswordChange } from './update-password.ts';

/** One generic message for every credential failure (corpus C2.1); the same text AD FS shows. */
export const GENERIC_FAILURE =
  'Incorrect user ID or password. Type the correct user ID and password, and try again.';

/** A validated sign-in request waiting for credentials, kept server-side. */
/** How a user may sign in; a request can ask for one (WS-Fed wauth, SAML RequestedAuthnContext). */
export type SignInMethod = 'password' | 'certificate';

/** The method an SSO session was established with, from its authentication method URI. */
export function methodOfSession(authMethod: string): SignInMethod {
  return authMethod === AuthMethods.tlsClient ? 'certificate' : 'password';
}

export interface PendingSignIn {
  /** Which registered issuer finishes this sign-in ('wsfed', 'saml2', …). */
  protocol: string;
  /** The only methods this request accepts; absent: any method fedgate offers. */
  methods?: SignInMethod[] | undefined;
  rp: string;
  /** The protocol's own request state (reply address, RelayState, request ID…), JSON. */
  state: unknown;
  username?: string | undefined;
  csrf: string;
  binding: string;
  createdAt: string;
}

export interface IssueInput {
  rp: RelyingParty;
  user: DirectoryUser;
  session: SsoSession;
  state: unknown;
}

/** Finishes a sign-in for one protocol: claims, token, delivery to the (already matched) reply address. */
export type TokenIssuer = (req: Request, res: Response, p: IssueInput) => Promise<void>;

/** Returns true when it has answered the request (e.g. redirected to the first party to log out). */
/**
 * `cleanup`: the wsignoutcleanup1.0 URLs of the session's WS-Fed parties (protocols/signout.ts), which a hook
 * that takes over the response must show on the page it ends with.
 */
export type SignOutHook = (
  req: Request,
  res: Response,
  session: SsoSession,
  cleanup: readonly string[],
) => Promise<boolean>;

export interface BeginOptions {
  protocol: string;
  rp: RelyingParty;
  state: unknown;
  /** Prompt for credentials even with a live SSO session (wfresh=0, prompt=login, ForceAuthn). */
  force: boolean;
  usernameHint?: string | undefined;
  /** The only methods the request accepts (wauth=…tlsclient: certificate only); absent: any. */
  methods?: readonly SignInMethod[] | undefined;
}

const MAX_ATTEMPTS_PER_REQUEST = 10;
const PENDING_TTL_SECONDS = 15 * 60;
const HANDLE = /^[A-Za-z0-9_-]{16,64}$/;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A login hint is shown back in the form, so only a plain, short, printable value is kept. */
export function cleanHint(v: string | undefined): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (v === undefined || v.length > 256 || /[\u0000-\u001f\u007f]/.test(v)) return undefined;
  return v.trim() === '' ? undefined : v;
}

function expired(): FederationError {
  return new FederationError(
    'session_expired',
    'Your sign-in page expired. Go back to the application and sign in again.',
  );
}

/**
 * The pending sign-in a certificate attempt belongs to (protocols/certificate-signin.ts), with one attempt counted
 * against it like a password attempt; throws the page's error when it is unknown, expired or used up.
 */
export async function pendingForCertificate(
  s: Services,
  stateId: string | undefined,
): Promise<PendingSignIn> {
  if (stateId === undefined || !HANDLE.test(stateId))
    throw new FederationError('bad_request', 'The certificate sign-in link is malformed.');
  const pending = await s.store.find<PendingSignIn>('pendingSignIn', stateId);
  if (pending === undefined) throw expired();
  if (!allows(pending, 'certificate')) {
    throw new FederationError(
      'bad_request',
      'This application requires signing in with a password.',
      {
        detail: 'certificate sign-in for a request that accepts only password sign-in',
      },
    );
  }
  const attempts = await s.store.incr('signInAttempts', stateId, PENDING_TTL_SECONDS);
  if (attempts > MAX_ATTEMPTS_PER_REQUEST) {
    await s.store.destroy('pendingSignIn', stateId);
    throw new FederationError(
      'session_expired',
      'Too many attempts on this sign-in page. Go back to the application and sign in again.',
    );
  }
  return pending;
}

/** A certificate sign-in that succeeded on the certificate route, waiting for the browser to come back. */
export interface CertificateResult {
  pendingId: string;
  objectGuid: string;
  certificate: CertificateContext;
  authInstant: string;
}

/** How long the browser has to come back from the certificate route. */
export const CERTIFICATE_RESULT_TTL_SECONDS = 120;

/**
 * Store key of a certificate result. The browser carries the handle; the store keeps only its hash, so someone who
 * can read the store cannot finish another user's sign-in with it (corpus C7.2).
 */
export function certificateResultKey(handle: string): string {
  return `${createHash('sha256').update(handle).digest('base64url')}`;
}

/** Where the sign-in page's "Sign in with a certificate" link goes (AD FS: certauth host or port 49443). */
export const CERTIFICATE_PATH = '/adfs/ls/certauth';

export class BrowserSignIn {
  readonly #s: Services;
  readonly #issuers = new Map<string, TokenIssuer>();

  constructor(s: Services) {
    this.#s = s;
  }

  register(protocol: string, issuer: TokenIssuer): void {
    if (this.#issuers.has(protocol)) throw new Error(`issuer ${protocol} registered twice`);
    this.#issuers.set(protocol, issuer);
  }

  readonly #signOutHooks: SignOutHook[] = [];

  /** A protocol that must tell its parties about a sign-out (SAML 2.0 single logout) registers here. */
  onSignOut(hook: SignOutHook): void {
    this.#signOutHooks.push(hook);
  }

  /**
   * Called after an SSO session ended at fedgate (WS-Fed wsignout1.0): lets each protocol log out its parties
   * of that session. Returns true when a hook took over the response (front-channel logout chain).
   */
  async signedOut(
    req: Request,
    res: Response,
    session: SsoSession,
    cleanup: readonly string[] = [],
  ): Promise<boolean> {
    for (const hook of this.#signOutHooks) if (await hook(req, res, session, cleanup)) return true;
    return false;
  }

  /** Whether this server offers a method at all (certificates only when certificateAuth is on). */
  #offers(method: SignInMethod): boolean {
    return method === 'password' || this.#s.certificates !== undefined;
  }

  #issuer(protocol: string): TokenIssuer {
    const issuer = this.#issuers.get(protocol);
    if (issuer === undefined) throw expired();
    return issuer;
  }

  sessionCookieMaxAge(session: SsoSession): number {
    return Math.max(
      1,
      Math.floor((new Date(session.expiresAt).getTime() - this.#s.clock.now().getTime()) / 1000),
    );
  }

  /**
   * The browser's live SSO session and its account, re-read from the directory: a user disabled or deleted
   * since signing in gets no further tokens (the session is ended).
   */
  async currentSession(
    req: Request,
    res: Response,
  ): Promise<{ session: SsoSession; user: DirectoryUser } | undefined> {
    const s = this.#s;
    const session = await s.sessions.find(readCookie(req, SSO_COOKIE));
    if (session === undefined) return undefined;
    const user = await s.directory.findByObjectGuid(Buffer.from(session.objectGuid, 'base64'));
    if (user?.enabled === true) return { session, user };
    await s.sessions.destroy(session.id);
    clearCookie(res, SSO_COOKIE);
    s.audit.warn(
      {
        event: 'session_revoked',
        reason: user === undefined ? 'account_not_found' : 'account_disabled',
        activityId: res.locals.activityId,
      },
      'SSO session ended: account no longer usable',
    );
    return undefined;
  }

  /** Issues from the live session unless `force`; otherwise keeps the request and shows the sign-in form. */
  async begin(req: Request, res: Response, o: BeginOptions): Promise<void> {
    const issuer = this.#issuer(o.protocol);
    const methods = o.methods === undefined ? undefined : [...o.methods];
    if (methods !== undefined && !methods.some((m) => this.#offers(m))) {
      throw new FederationError(
        'bad_request',
        'The application asked for a sign-in method this service does not offer.',
        { detail: `requested methods ${methods.join(', ')} are not enabled` },
      );
    }
    if (!o.force) {
      const current = await this.currentSession(req, res);
      // An SSO session counts only when it was made the way this request asks (AD FS re-prompts otherwise).
      if (
        current !== undefined &&
        (methods === undefined || methods.includes(methodOfSession(current.session.authMethod)))
      ) {
        await issuer(req, res, { rp: o.rp, state: o.state, ...current });
        return;
      }
    }
    const s = this.#s;
    const binding = readCookie(req, SIGNIN_COOKIE) ?? s.random.token();
    if (!HANDLE.test(binding))
      throw new FederationError('bad_request', 'The sign-in cookie is malformed.');
    setCookie(res, SIGNIN_COOKIE, binding);
    const pending: PendingSignIn = {
      protocol: o.protocol,
      rp: o.rp.identifier,
      state: o.state,
      ...(methods === undefined ? {} : { methods }),
      username: cleanHint(o.usernameHint),
      csrf: s.random.token(),
      binding,
      createdAt: s.clock.now().toISOString(),
    };
    const id = s.random.token();
    await s.store.put('pendingSignIn', id, pending, PENDING_TTL_SECONDS);
    sendSignInPage(s, res, { pendingId: id, pending, rp: o.rp });
  }

  /** Whether a form post is a credentials post (it carries the pending request's handle). */
  static isCredentialsPost(body: unknown): boolean {
    return param(body, 'AuthState', 64) !== undefined;
  }

  /** The credentials form post (POST /adfs/ls/ with AuthState). */
  async credentials(req: Request, res: Response): Promise<void> {
    const s = this.#s;
    const body: unknown = req.body;
    const stateId = param(body, 'AuthState', 64) ?? '';
    if (!HANDLE.test(stateId))
      throw new FederationError('bad_request', 'The sign-in form is malformed.');
    const pending = await s.store.find<PendingSignIn>('pendingSignIn', stateId);
    if (pending === undefined) throw expired();
    // Login CSRF (corpus C5.1): the form token must match, the browser must hold the cookie the form was made for,
    // and a browser-supplied Origin must be ours.
    const origin = req.headers.origin;
    const csrf = param(body, 'csrf', 64) ?? '';
    const binding = readCookie(req, SIGNIN_COOKIE) ?? '';
    const originOk = origin === undefined || origin === new URL(s.config.publicUrl).origin;
    if (!safeEqual(csrf, pending.csrf) || !safeEqual(binding, pending.binding) || !originOk) {
      s.audit.warn(
        { event: 'csrf_rejected', ip: req.ip, activityId: res.locals.activityId, originOk },
        'sign-in form rejected: CSRF check failed',
      );
      throw new FederationError(
        'csrf_failed',
        'The sign-in form could not be verified. Go back to the application and sign in again.',
      );
    }
    if (!allows(pending, 'password')) {
      throw new FederationError(
        'bad_request',
        'This application requires signing in with a certificate (smart card).',
        { detail: 'password post for a request that accepts only certificate sign-in' },
      );
    }
    const rp = s.trusts.find(pending.rp);
    if (rp === undefined) throw expired();
    const issuer = this.#issuer(pending.protocol);

    const attempts = await s.store.incr(
      'signInAttempts',
      stateId,
      PENDING_TTL_SECONDS,
    );
    if (attempts > MAX_ATTEMPTS_PER_REQUEST) {
      await s.store.destroy('pendingSignIn', stateId);
      throw new FederationError(
        'session_expired',
        'Too many attempts on this sign-in page. Go back to the application and sign in again.',
      );
    }

    const username = param(body, 'UserName', 1024) ?? '';
    const password = param(body, 'Password', 1024) ?? '';
    const result = await authenticateWithPassword(s, {
      username,
      password,
      clientIp: req.ip ?? '',
      forwardedIps: req.ips,
      activityId: res.locals.activityId,
      relyingParty: rp.identifier,
      method: 'forms',
    });
    if (!result.ok) {
      // Expired / must-change password (532/773): the protected change-password page (authn/password-change.ts).
      if (await offerPasswordChange(s, req, res, { stateId, pending, rp, username, result }))
        return;
      if (result.kind === 'unavailable') {
        throw new FederationError(
          'directory_unavailable',
          'The sign-in service cannot check your password right now. Try again in a few minutes.',
          { detail: result.reason },
        );
      }
      sendSignInPage(s, res, {
        pendingId: stateId,
        pending,
        rp,
        error: GENERIC_FAILURE,
        username: username.length <= 256 ? username : '',
      });
      return;
    }
    await this.#finish(req, res, {
      stateId,
      pending,
      rp,
      issuer,
      user: result.user,
      authMethod: AuthMethods.password,
      authInstant: s.clock.now(),
    });
  }

  /** Ends a successful sign-in: consumes the pending request, starts a fresh SSO session, issues the token. */
  async #finish(
    req: Request,
    res: Response,
    p: {
      stateId: string;
      pending: PendingSignIn;
      rp: RelyingParty;
      issuer: TokenIssuer;
      user: DirectoryUser;
      authMethod: string;
      authInstant: Date;
      certificate?: CertificateContext | undefined;
    },
  ): Promise<void> {
    const s = this.#s;
    // One use per pending request: a second concurrent success gets no second token.
    if ((await s.store.consume<PendingSignIn>('pendingSignIn', p.stateId)) === undefined)
      throw expired();
    // A fresh session id at every sign-in; any earlier session of this browser ends (no fixation, corpus A18).
    await s.sessions.destroy(readCookie(req, SSO_COOKIE));
    const session = await s.sessions.create({
      objectGuid: p.user.objectGuid.toString('base64'),
      windowsAccountName: p.user.windowsAccountName,
      userPrincipalName: p.user.userPrincipalName,
      authMethod: p.authMethod,
      authInstant: p.authInstant.toISOString(),
      ...(p.certificate === undefined ? {} : { certificate: p.certificate }),
    });
    setCookie(res, SSO_COOKIE, session.id, this.sessionCookieMaxAge(session));
    await p.issuer(req, res, { rp: p.rp, user: p.user, session, state: p.pending.state });
  }

  /**
   * The browser's return from the certificate route (GET /adfs/ls/certauth/complete?CertResult=…): the result is
   * used once, and only by the browser that started the sign-in (its sign-in cookie must match the pending request's,
   * so a result handle that leaks, or a sign-in started by someone else, completes nothing).
   */
  async completeCertificate(req: Request, res: Response): Promise<void> {
    const s = this.#s;
    const handle = param(req.query, 'CertResult', 64);
    if (handle === undefined || !HANDLE.test(handle))
      throw new FederationError('bad_request', 'The certificate sign-in result is malformed.');
    const result = await s.store.consume<CertificateResult>(
      'certificateResult',
      certificateResultKey(handle),
    );
    if (result === undefined) throw expired();
    const pending = await s.store.find<PendingSignIn>('pendingSignIn', result.pendingId);
    if (pending === undefined) throw expired();
    const binding = readCookie(req, SIGNIN_COOKIE) ?? '';
    if (!safeEqual(binding, pending.binding)) {
      s.audit.warn(
        {
          event: 'csrf_rejected',
          method: 'certificate',
          ip: req.ip,
          activityId: res.locals.activityId,
          objectGuid: result.objectGuid,
        },
        'certificate sign-in result presented by a browser that did not start the sign-in',
      );
      throw new FederationError(
        'csrf_failed',
        'The sign-in could not be verified. Go back to the application and sign in again.',
      );
    }
    const rp = s.trusts.find(pending.rp);
    if (rp === undefined) throw expired();
    const issuer = this.#issuer(pending.protocol);
    // Re-read: the account must still exist and be enabled when the token is issued.
    const user = await s.directory.findByObjectGuid(Buffer.from(result.objectGuid, 'base64'));
    if (user?.enabled !== true) throw expired();
    await this.#finish(req, res, {
      stateId: result.pendingId,
      pending,
      rp,
      issuer,
      user,
      authMethod: AuthMethods.tlsClient,
      authInstant: new Date(result.authInstant),
      certificate: result.certificate,
    });
  }
}

/** Whether a pending sign-in accepts a method (no list: every method). */
export function allows(pending: PendingSignIn, method: SignInMethod): boolean {
  return pending.methods === undefined || pending.methods.includes(method);
}

/**
 * The sign-in page of a pending sign-in: the password form and/or the certificate link, as the request allows
 * (wauth / RequestedAuthnContext) and the server offers. Also used to resume a sign-in after a password change.
 */
export function sendSignInPage(
  s: Services,
  res: Response,
  p: {
    pendingId: string;
    pending: PendingSignIn;
    rp: RelyingParty;
    error?: string | undefined;
    notice?: string | undefined;
    username?: string | undefined;
  },
): void {
  res
    .status(200)
    .type('html')
    .send(
      s.views.page('signin', 'Sign in', {
        relyingPartyName: p.rp.name,
        authState: p.pendingId,
        csrf: p.pending.csrf,
        username: p.username ?? p.pending.username ?? '',
        error: p.error,
        notice: p.notice,
        passwordAllowed: allows(p.pending, 'password'),
        certificateUrl:
          s.certificates === undefined || !allows(p.pending, 'certificate')
            ? undefined
            : `${s.config.certificateAuth.publicUrl}${CERTIFICATE_PATH}?${new URLSearchParams({ AuthState: p.pendingId }).toString()}`,
      }),
    );
}
