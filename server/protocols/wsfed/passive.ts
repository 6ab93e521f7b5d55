import express, { type Request, type Response, type Router } from 'express';
import type { SsoSession } from '../../authn/session.ts';
import { claimsAudit } from '../../claims/audit.ts';
import { AuthMethods } from '../../claims/types.ts';
import type { DirectoryUser } from '../../directory/types.ts';
import { clearCookie, readCookie, SSO_COOKIE } from '../../http/cookies.ts';
import { formPostCsp, noStore, param, route } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import { writeWsFedRstr, writeSignedSaml11Assertion } from '../../tokens/index.ts';
import { matchReplyUrl, type RelyingParty } from '../../trust/registry.ts';
import { BrowserSignIn, type SignInMethod } from '../browser-signin.ts';
import { issuanceClaims, issueAudited } from '../request-context.ts';
import { rememberWsFedParty, sendSignedOut, takeWsFedCleanup } from '../signout.ts';
import { toSaml11Model } from '../../tokens/saml11-model.ts';

export { GENERIC_FAILURE } from '../browser-signin.ts';

/** wauth values a password sign-in satisfies (MS-MWBF §2.2.2; entra-protocol.md §1.2). */
const PASSWORD_WAUTH = new Set([
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
  'urn:oasis:names:tc:SAML:1.0:am:password',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Password',
]);

/** wauth values only a certificate sign-in satisfies (AD FS: TLS client authentication). */
const CERTIFICATE_WAUTH = new Set<string>([
  AuthMethods.tlsClient,
  'urn:ietf:rfc:2246',
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/x509',
  'urn:oasis:names:tc:SAML:1.0:am:X509-PKI',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:X509',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient',
]);

/** The methods a wauth value allows; undefined when it names none fedgate knows. */
function methodsForWauth(wauth: string): SignInMethod[] | undefined {
  if (PASSWORD_WAUTH.has(wauth)) return ['password'];
  if (CERTIFICATE_WAUTH.has(wauth)) return ['certificate'];
  return undefined;
}

/** What a WS-Fed sign-in keeps in its pending request (browser-signin.ts). */
interface WsFedState {
  reply: string;
  wctx?: string | undefined;
}

/**
 * WS-Federation passive requestor profile on /adfs/ls/ (MS-MWBF). The credential step, the SSO session and the
 * pending request are the shared browser sign-in (../browser-signin.ts); this file validates wsignin1.0
 * against the trust and writes the SAML 1.1 token in an RSTR.
 */
export function wsfedRouter(s: Services, flow: BrowserSignIn = new BrowserSignIn(s)): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  const bodyParser = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 32 });

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
    const [first] = rp.replyUrls;
    if (first === undefined) {
      // A SAML-only trust (from SP metadata) has no WS-Fed reply address.
      throw new FederationError(
        'unknown_relying_party',
        'The application that sent you here is not known to this sign-in service.',
        { detail: `${rp.identifier} has no WS-Federation reply address` },
      );
    }
    if (wreply === undefined || wreply === '') return { rp, reply: first };
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
    const outcome = await issuanceClaims(s, req, res, {
      protocol: 'wsfed',
      rp: p.rp,
      auth: {
        user: p.user,
        method: p.session.authMethod,
        instant: authInstant,
        certificate: p.session.certificate,
      },
      endpointPath: '/adfs/ls/',
    });
    if (!outcome.permitted) {
      throw new FederationError('access_denied', 'You do not have access to this application.', {
        detail: `${p.rp.identifier}: ${outcome.reason}`,
      });
    }
    const claims = outcome.claims;
    const now = s.clock.now();
    const auth = { user: p.user, method: p.session.authMethod, instant: authInstant };
    const { model, wresult } = issueAudited(
      s,
      req,
      res,
      { protocol: 'wsfed', rp: p.rp, auth },
      () => {
        const m = toSaml11Model({
          claims,
          assertionId: `_${s.random.uuid()}`,
          issuer: s.config.issuerUri,
          audience: p.rp.identifier,
          now,
          lifetimeMinutes: p.rp.tokenLifetimeMinutes,
          authMethod: p.session.authMethod,
          authInstant,
          requireNameIdentifier: p.rp.claimsPreset === 'microsoft365',
        });
        const assertionXml = writeSignedSaml11Assertion(m, s.signing);
        return {
          model: m,
          wresult: writeWsFedRstr({
            assertionXml,
            appliesTo: p.rp.identifier,
            created: now,
            expires: m.notOnOrAfter,
          }),
        };
      },
    );
    await s.sessions.addRelyingParty(p.session, p.rp.identifier);
    // For single sign-out: this party gets wsignoutcleanup1.0 at this reply address (signout.ts).
    await rememberWsFedParty(s, p.session, p.rp.identifier, p.reply);
    // Every issued token is logged so a token seen at the relying party without a matching log line stands out (corpus C7.3).
    s.audit.info(
      {
        event: 'token_issued',
        eventId: 1200, // AD FS 1200 (observability/audit-events.ts)
        protocol: 'wsfed',
        assertionId: model.assertionId,
        rp: p.rp.identifier,
        upn: p.user.userPrincipalName,
        objectGuid: p.user.objectGuid.toString('base64'),
        method: p.session.authMethod,
        claims: claimsAudit(outcome),
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

  flow.register('wsfed', async (req, res, p) => {
    const st = p.state as WsFedState;
    await issueAndPost(req, res, {
      rp: p.rp,
      reply: st.reply,
      wctx: st.wctx,
      user: p.user,
      session: p.session,
    });
  });

  async function signIn(req: Request, res: Response, q: unknown): Promise<void> {
    const { rp, reply } = resolveTrust(param(q, 'wtrealm', 1024), param(q, 'wreply', 2048));
    const wctx = param(q, 'wctx', 6144);
    const wauth = param(q, 'wauth', 512);
    const methods = wauth === undefined || wauth === '' ? undefined : methodsForWauth(wauth);
    if (wauth !== undefined && wauth !== '' && methods === undefined) {
      throw new FederationError(
        'bad_request',
        'The application asked for a sign-in method this service does not offer.',
        {
          detail: `unsupported wauth ${wauth}`,
        },
      );
    }
    const force = param(q, 'wfresh', 16) === '0' || param(q, 'prompt', 32) === 'login';
    const state: WsFedState = { reply, wctx };
    await flow.begin(req, res, {
      protocol: 'wsfed',
      rp,
      state,
      force,
      methods,
      usernameHint: param(q, 'username', 512),
    });
  }

  async function signOut(req: Request, res: Response, q: unknown): Promise<void> {
    const ended = await s.sessions.destroy(readCookie(req, SSO_COOKIE));
    clearCookie(res, SSO_COOKIE);
    let cleanup: string[] = [];
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
      // WS-Fed parties get wsignoutcleanup1.0 from the signed-out page; SAML 2.0 parties of this session are
      // logged out too (one session, one sign-out), and that chain ends on the signed-out page with the cleanup.
      cleanup = await takeWsFedCleanup(s, ended);
      if (await flow.signedOut(req, res, ended, cleanup)) return;
    }
    // wreply is followed only when it is a registered endpoint of a known trust (corpus B3.4).
    const wreply = param(q, 'wreply', 2048);
    if (wreply !== undefined && wreply !== '') {
      for (const rp of s.trusts.parties) {
        const target = matchReplyUrl(rp, wreply);
        if (target !== undefined) {
          if (cleanup.length > 0)
            sendSignedOut(s, res, { cleanup, next: { kind: 'redirect', url: target } });
          else res.redirect(302, target);
          return;
        }
      }
      s.log.info(
        { activityId: res.locals.activityId },
        'sign-out wreply not registered; showing the signed-out page',
      );
    }
    sendSignedOut(s, res, { cleanup });
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

  /** A form post: the credentials form (shared flow) or a WS-Fed request sent with POST (MS-MWBF allows either). */
  async function post(req: Request, res: Response): Promise<void> {
    const body: unknown = req.body;
    if (BrowserSignIn.isCredentialsPost(body)) {
      await flow.credentials(req, res);
      return;
    }
    await dispatch(req, res, body);
  }

  router.get(
    '/',
    noStore,
    route((req, res) => dispatch(req, res, req.query)),
  );
  router.post('/', noStore, bodyParser, route(post));
  router.all('/', (_req, _res, next) => {
    next(new FederationError('method_not_allowed', 'This address accepts only GET and POST.'));
  });
  return router;
}
