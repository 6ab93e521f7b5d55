import { timingSafeEqual } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import { authenticateWithPassword } from '../../authn/forms.ts';
import type { SsoSession } from '../../authn/session.ts';
import { AuthMethods } from '../../claims/types.ts';
import type { DirectoryUser } from '../../directory/types.ts';
import {
  clearCookie,
  readCookie,
  setCookie,
  SIGNIN_COOKIE,
  SSO_COOKIE,
} from '../../http/cookies.ts';
import { formPostCsp, noStore, param, route } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import { writeWsFedRstr, writeSignedSaml11Assertion } from '../../tokens/index.ts';
import { matchReplyUrl, type RelyingParty } from '../../trust/registry.ts';
import { toSaml11Model } from './assertion.ts';

/** One generic message for every credential failure (corpus C2.1); the same text AD FS shows. */
export const GENERIC_FAILURE =
  'Incorrect user ID or password. Type the correct user ID and password, and try again.';

/** wauth values a password sign-in satisfies (MS-MWBF §2.2.2; entra-protocol.md §1.2). */
const PASSWORD_WAUTH = new Set([
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
  'urn:oasis:names:tc:SAML:1.0:am:password',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Password',
]);

/** A validated sign-in request waiting for credentials, kept server-side (the form carries only its handle). */
interface PendingSignIn {
  rp: string;
  reply: string;
  wctx?: string | undefined;
  username?: string | undefined;
  csrf: string;
  binding: string;
  createdAt: string;
}

const MAX_ATTEMPTS_PER_REQUEST = 10;
const PENDING_TTL_SECONDS = 15 * 60;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A login hint is shown back in the form, so only a plain, short, printable value is kept. */
function cleanHint(v: string | undefined): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (v === undefined || v.length > 256 || /[\u0000-\u001f\u007f]/.test(v)) return undefined;
  return v.trim() === '' ? undefined : v;
}

export function wsfedRouter(s: Services): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  const bodyParser = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 32 });

  function sessionCookieMaxAge(session: SsoSession): number {
    return Math.max(
      1,
      Math.floor((new Date(session.expiresAt).getTime() - s.clock.now().getTime()) / 1000),
    );
  }

  /** Resolves wtrealm/wreply against the trust registry. Nothing is ever delivered to an unmatched address. */
  function resolveTrust(
    wtrealm: string | undefined,
    wreply: string | undefined,
  ): { rp: RelyingParty; reply: string } {
    if (wtrealm === undefined || wtrealm === '') {
      throw new FederationError(
        'bad_request',
        'The sign-in request does not name the application (wtrealm is missing).',
      );
    }
    const rp = s.trusts.find(wtrealm);
    if (rp === undefined) {
      throw new FederationError(
        'unknown_relying_party',
        'The application that sent you here is not known to this sign-in service.',
        {
          detail: `unknown wtrealm ${wtrealm.slice(0, 200)}`,
        },
      );
    }
    if (wreply === undefined || wreply === '') return { rp, reply: rp.replyUrls[0] ?? '' };
    const reply = matchReplyUrl(rp, wreply);
    if (reply === undefined) {
      throw new FederationError(
        'invalid_reply_address',
        'The return address in the sign-in request is not registered for this application.',
        {
          detail: `wreply ${wreply.slice(0, 200)} does not match ${rp.identifier}`,
        },
      );
    }
    return { rp, reply };
  }

  async function issueAndPost(
    req: Request,
    res: Response,
    p: {
      rp: RelyingParty;
      reply: string;
      wctx: string | undefined;
      user: DirectoryUser;
      session: SsoSession;
    },
  ): Promise<void> {
    const authInstant = new Date(p.session.authInstant);
    // req.ips is non-empty only when a configured trusted proxy forwarded the request (app 'trust proxy').
    const proxied = req.ips.length > 0;
    const outcome = await s.claims.run(
      p.rp.rules,
      { user: p.user, method: p.session.authMethod, instant: authInstant },
      {
        clientIp: req.ip ?? '',
        forwardedClientIps: proxied ? req.ips : undefined,
        userAgent: req.get('user-agent'),
        endpointPath: '/adfs/ls/',
        proxy: proxied ? req.socket.remoteAddress : undefined,
        insideCorporateNetwork: false,
      },
    );
    if (!outcome.permitted) {
      s.audit.warn(
        {
          event: 'access_denied',
          protocol: 'wsfed',
          rp: p.rp.identifier,
          upn: p.user.userPrincipalName,
          objectGuid: p.user.objectGuid.toString('base64'),
          rule: outcome.reason,
          ip: req.ip,
          activityId: res.locals.activityId,
        },
        'access denied by issuance authorization rules',
      );
      throw new FederationError('access_denied', 'You do not have access to this application.', {
        detail: `${p.rp.identifier}: ${outcome.reason}`,
      });
    }
    const claims = outcome.claims;
    const now = s.clock.now();
    const model = toSaml11Model({
      claims,
      assertionId: `_${s.random.uuid()}`,
      issuer: s.config.issuerUri,
      audience: p.rp.identifier,
      now,
      lifetimeMinutes: p.rp.tokenLifetimeMinutes,
      authMethod: p.session.authMethod,
      authInstant,
    });
    const assertionXml = writeSignedSaml11Assertion(model, s.signing);
    const wresult = writeWsFedRstr({
      assertionXml,
      appliesTo: p.rp.identifier,
      created: now,
      expires: model.notOnOrAfter,
    });
    await s.sessions.addRelyingParty(p.session, p.rp.identifier);
    // Every issued token is logged so a token seen at the relying party without a matching log line stands out (corpus C7.3).
    s.audit.info(
      {
        event: 'token_issued',
        protocol: 'wsfed',
        assertionId: model.assertionId,
        rp: p.rp.identifier,
        upn: p.user.userPrincipalName,
        objectGuid: p.user.objectGuid.toString('base64'),
        method: p.session.authMethod,
        ip: req.ip,
        activityId: res.locals.activityId,
        notOnOrAfter: model.notOnOrAfter.toISOString(),
      },
      'token issued',
    );
    const fields = [
      { name: 'wa', value: 'wsignin1.0' },
      { name: 'wresult', value: wresult },
    ];
    if (p.wctx !== undefined) fields.push({ name: 'wctx', value: p.wctx });
    const nonce = formPostCsp(res, p.reply);
    res
      .status(200)
      .type('html')
      .send(s.views.formPost(p.reply, fields, nonce));
  }

  function renderSignIn(
    res: Response,
    pendingId: string,
    pending: PendingSignIn,
    rp: RelyingParty,
    error?: string,
    username?: string,
  ): void {
    res
      .status(200)
      .type('html')
      .send(
        s.views.page('signin', 'Sign in', {
          relyingPartyName: rp.name,
          authState: pendingId,
          csrf: pending.csrf,
          username: username ?? pending.username ?? '',
          error,
        }),
      );
  }

  async function signIn(req: Request, res: Response, q: unknown): Promise<void> {
    const { rp, reply } = resolveTrust(param(q, 'wtrealm', 1024), param(q, 'wreply', 2048));
    const wctx = param(q, 'wctx', 6144);
    const wauth = param(q, 'wauth', 512);
    if (wauth !== undefined && wauth !== '' && !PASSWORD_WAUTH.has(wauth)) {
      throw new FederationError(
        'bad_request',
        'The application asked for a sign-in method this service does not offer.',
        {
          detail: `unsupported wauth ${wauth}`,
        },
      );
    }
    const force = param(q, 'wfresh', 16) === '0' || param(q, 'prompt', 32) === 'login';

    if (!force) {
      const session = await s.sessions.find(readCookie(req, SSO_COOKIE));
      if (session !== undefined) {
        // Re-read the account: a user disabled or deleted since signing in gets no further tokens.
        const user = await s.directory.findByObjectGuid(Buffer.from(session.objectGuid, 'base64'));
        if (user?.enabled === true) {
          await issueAndPost(req, res, { rp, reply, wctx, user, session });
          return;
        }
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
      }
    }

    const binding = readCookie(req, SIGNIN_COOKIE) ?? s.random.token();
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(binding))
      throw new FederationError('bad_request', 'The sign-in cookie is malformed.');
    setCookie(res, SIGNIN_COOKIE, binding);
    const pending: PendingSignIn = {
      rp: rp.identifier,
      reply,
      wctx,
      username: cleanHint(param(q, 'username', 512)),
      csrf: s.random.token(),
      binding,
      createdAt: s.clock.now().toISOString(),
    };
    const id = s.random.token();
    await s.store.put('signin-request', id, pending, PENDING_TTL_SECONDS);
    renderSignIn(res, id, pending, rp);
  }

  async function signOut(req: Request, res: Response, q: unknown): Promise<void> {
    const ended = await s.sessions.destroy(readCookie(req, SSO_COOKIE));
    clearCookie(res, SSO_COOKIE);
    if (ended !== undefined) {
      s.audit.info(
        {
          event: 'signout',
          objectGuid: ended.objectGuid,
          rps: ended.relyingParties,
          activityId: res.locals.activityId,
        },
        'signed out',
      );
    }
    // wreply is followed only when it is a registered endpoint of a known trust (corpus B3.4).
    const wreply = param(q, 'wreply', 2048);
    if (wreply !== undefined && wreply !== '') {
      for (const rp of s.trusts.parties) {
        const target = matchReplyUrl(rp, wreply);
        if (target !== undefined) {
          res.redirect(302, target);
          return;
        }
      }
      s.log.info(
        { activityId: res.locals.activityId },
        'sign-out wreply not registered; showing the signed-out page',
      );
    }
    res
      .status(200)
      .type('html')
      .send(s.views.page('signed-out', 'Signed out', {}));
  }

  async function dispatch(req: Request, res: Response, q: unknown): Promise<void> {
    const wa = param(q, 'wa', 64);
    if (wa === 'wsignin1.0') return signIn(req, res, q);
    if (wa === 'wsignout1.0' || wa === 'wsignoutcleanup1.0') return signOut(req, res, q);
    if (wa !== undefined)
      throw new FederationError(
        'unsupported_action',
        'The sign-in request asks for an action this service does not support.',
        { detail: `wa=${wa.slice(0, 64)}` },
      );
    const has = (k: string): boolean =>
      typeof q === 'object' && q !== null && (q as Record<string, unknown>)[k] !== undefined;
    if (has('SAMLRequest') || has('SAMLResponse')) {
      throw new FederationError(
        'unsupported_action',
        'SAML 2.0 sign-in is not enabled on this server.',
      );
    }
    throw new FederationError(
      'bad_request',
      'This address expects a sign-in request from an application. Start from the application you want to use.',
    );
  }

  /** The credentials form post. */
  async function credentials(req: Request, res: Response): Promise<void> {
    const body: unknown = req.body;
    const stateId = param(body, 'AuthState', 64);
    if (stateId === undefined) {
      await dispatch(req, res, body); // a WS-Fed request sent with POST (MS-MWBF allows either)
      return;
    }
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(stateId))
      throw new FederationError('bad_request', 'The sign-in form is malformed.');
    const pending = await s.store.find<PendingSignIn>('signin-request', stateId);
    if (pending === undefined) {
      throw new FederationError(
        'session_expired',
        'Your sign-in page expired. Go back to the application and sign in again.',
      );
    }
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
    const rp = s.trusts.find(pending.rp);
    if (rp === undefined)
      throw new FederationError(
        'session_expired',
        'Your sign-in page expired. Go back to the application and sign in again.',
      );

    const attempts = await s.store.incr(
      'counter',
      `signin-attempts:${stateId}`,
      PENDING_TTL_SECONDS,
    );
    if (attempts > MAX_ATTEMPTS_PER_REQUEST) {
      await s.store.destroy('signin-request', stateId);
      throw new FederationError(
        'session_expired',
        'Too many attempts on this sign-in page. Go back to the application and sign in again.',
      );
    }

    const username = param(body, 'UserName', 1024) ?? '';
    const password = param(body, 'Password', 1024) ?? '';
    const result = await authenticateWithPassword(s.directory, s.audit, {
      username,
      password,
      clientIp: req.ip ?? '',
      activityId: res.locals.activityId,
      relyingParty: rp.identifier,
    });
    if (!result.ok) {
      if (result.kind === 'unavailable') {
        throw new FederationError(
          'directory_unavailable',
          'The sign-in service cannot check your password right now. Try again in a few minutes.',
          { detail: result.reason },
        );
      }
      renderSignIn(
        res,
        stateId,
        pending,
        rp,
        GENERIC_FAILURE,
        username.length <= 256 ? username : '',
      );
      return;
    }
    // One use per pending request: a second concurrent success gets no second token.
    if ((await s.store.consume<PendingSignIn>('signin-request', stateId)) === undefined) {
      throw new FederationError(
        'session_expired',
        'Your sign-in page expired. Go back to the application and sign in again.',
      );
    }
    // A fresh session id at every sign-in; any earlier session of this browser ends (no fixation, corpus A18).
    await s.sessions.destroy(readCookie(req, SSO_COOKIE));
    const now = s.clock.now();
    const session = await s.sessions.create({
      objectGuid: result.user.objectGuid.toString('base64'),
      windowsAccountName: result.user.windowsAccountName,
      userPrincipalName: result.user.userPrincipalName,
      authMethod: AuthMethods.password,
      authInstant: now.toISOString(),
    });
    setCookie(res, SSO_COOKIE, session.id, sessionCookieMaxAge(session));
    await issueAndPost(req, res, {
      rp,
      reply: pending.reply,
      wctx: pending.wctx,
      user: result.user,
      session,
    });
  }

  router.get(
    '/',
    noStore,
    route((req, res) => dispatch(req, res, req.query)),
  );
  router.post('/', noStore, bodyParser, route(credentials));
  router.all('/', (_req, _res, next) => {
    next(new FederationError('method_not_allowed', 'This address accepts only GET and POST.'));
  });
  return router;
}
