/**
 * AD FS's one browser endpoint, /adfs/ls/ (entra-protocol §5.1), and the routes around it. Each request is handed to
 * the protocol that can read it — a `SAMLRequest`/`SAMLResponse` to SAML 2.0 (checked first, as AD FS does), `wa=…`
 * to WS-Federation — whose parser turns it into a SignInRequest for the pipeline (identify.ts) or answers it itself
 * (status responses, logout). The credential post of the sign-in form has its own route (password.ts), and so do
 * the certificate return and IdP-initiated sign-on.
 */
import express, { type Request, type Response, type Router } from 'express';
import { noStore, param, route } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import { parseIdpInitiated } from '../saml2/idp-initiated.ts';
import { isSamlMessage, readInbound } from '../saml2/inbound.ts';
import { samlError } from '../saml2/messages.ts';
import { handleLogoutResponse } from '../saml2/slo.ts';
import { parseAuthnRequest } from '../saml2/sso.ts';
import { parseWsFedSignIn } from '../wsfed/signin.ts';
import { isWsFedSignOut } from '../wsfed/signout.ts';
import { sendFormPost } from './form-post.ts';
import { isResume, resumeSignIn } from './resume.ts';
import { beginSignIn } from './identify.ts';
import { mfaPost } from './mfa.ts';
import { isCredentialsPost, passwordPost } from './password.ts';
import { samlLogoutRequest, wsfedSignOut } from './signout.ts';
import { ROUTES } from '../../http/routes.ts';

async function saml2(s: Services, req: Request, res: Response, source: unknown): Promise<void> {
  const m = readInbound(s, req, source);
  const root = m.doc.documentElement.localName;
  if (m.kind === 'SAMLRequest' && root === 'AuthnRequest') {
    const r = await parseAuthnRequest(s, req, res, m);
    if ('action' in r) sendFormPost(s, res, r);
    else await beginSignIn(s, req, res, r);
    return;
  }
  if (m.kind === 'SAMLRequest' && root === 'LogoutRequest')
    return samlLogoutRequest(s, req, res, m);
  if (m.kind === 'SAMLResponse' && root === 'LogoutResponse')
    return handleLogoutResponse(s, req, res, m);
  throw samlError(`unsupported SAML message ${root.slice(0, 64)}`);
}

async function wsfed(s: Services, req: Request, res: Response, q: unknown): Promise<void> {
  const wa = param(q, 'wa', 64);
  if (wa === 'wsignin1.0') return beginSignIn(s, req, res, parseWsFedSignIn(s, q));
  if (isWsFedSignOut(wa)) return wsfedSignOut(s, req, res, q);
  if (wa !== undefined)
    throw new FederationError(
      'unsupported_action',
      'The sign-in request asks for an action this service does not support.',
      { detail: `wa=${wa.slice(0, 64)}` },
    );
  throw new FederationError(
    'bad_request',
    'This address expects a sign-in request from an application. Start from the application you want to use.',
  );
}

/** The protocol message in a query or form: SAML 2.0 first, then WS-Federation. */
function dispatch(s: Services, req: Request, res: Response, q: unknown): Promise<void> {
  return isSamlMessage(q) ? saml2(s, req, res, q) : wsfed(s, req, res, q);
}

/** /adfs/ls/ and its sub-paths (mounted at ROUTES.passive). */
export function passiveRouter(s: Services): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  const bodyParser = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 32 });

  router.get(
    '/',
    noStore,
    route((req, res) =>
      isResume(req.query) ? resumeSignIn(s, req, res) : dispatch(s, req, res, req.query),
    ),
  );
  // The sign-in form's credential post: its own route (AD FS posts the form to /adfs/ls/ too, with AuthState).
  router.post('/', noStore, bodyParser, (req, res, next) => {
    const body: unknown = req.body;
    if (isSamlMessage(body) || !isCredentialsPost(body)) {
      next();
      return;
    }
    route((rq, rs) => passwordPost(s, rq, rs))(req, res, next);
  });
  // A protocol message sent with POST (MS-MWBF and the SAML HTTP-POST binding allow it).
  router.post(
    '/',
    route((req, res) => dispatch(s, req, res, req.body)),
  );
  router.all('/', (_req, _res, next) => {
    next(new FederationError('method_not_allowed', 'This address accepts only GET and POST.'));
  });

  // The second-factor page's posts (mfa.ts).
  router.post(
    ROUTES.mfa.slice(ROUTES.passive.length),
    noStore,
    express.urlencoded({ extended: false, limit: '48kb', parameterLimit: 16 }),
    route((req, res) => mfaPost(s, req, res)),
  );
  router.all(ROUTES.mfa.slice(ROUTES.passive.length), (_req, _res, next) => {
    next(new FederationError('method_not_allowed', 'This address accepts only POST.'));
  });

  // IdP-initiated sign-on (AD FS: /adfs/ls/idpinitiatedsignon[.aspx]?LoginToRP=<entityID>&RelayState=<url>).
  router.get(
    [ROUTES.idpInitiated, ROUTES.idpInitiatedAspx].map((p) => p.slice(ROUTES.passive.length)),
    noStore,
    route(async (req, res) => {
      const r = await parseIdpInitiated(s, req, res);
      if (r !== undefined) await beginSignIn(s, req, res, r);
    }),
  );
  return router;
}
