/**
 * The one issuance step every protocol uses (WS-Federation, SAML 2.0, WS-Trust): the relying party's claim rules
 * over the signed-in user and this request (with the authorization rules' deny), the protocol's token model, the
 * signed token, the `token_issued` audit line (AD FS 1200; corpus C7.3: every token issued is logged, so one seen at
 * a party without a matching line stands out), and, in a browser session, the party remembered for sign-out.
 *
 * What differs per protocol is a `TokenRecipe`: how claims become its model, how the model is written, what the
 * session must remember about the party, and the protocol's own audit fields. A recipe may also refuse after the
 * model is built (SAML 2.0: the rules issued no NameID in the format the request demanded); the caller answers that
 * refusal in its protocol's way.
 */
import type { Request, Response } from 'express';
import type { Participant } from '../../authn/participants.ts';
import type { SsoSession } from '../../authn/session.ts';
import { claimsAudit } from '../../claims/audit.ts';
import type { AuthenticationContext } from '../../claims/input-claims.ts';
import type { ClaimSet } from '../../claims/types.ts';
import type { DirectoryUser } from '../../directory/types.ts';
import { ROUTES } from '../../http/routes.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import type { RelyingParty } from '../../trust/registry.ts';
import { issuanceClaims, issueAudited } from './request-context.ts';
import * as audit from '../../observability/audit.ts';

export type IssuingProtocol = 'wsfed' | 'saml2' | 'wstrust' | 'oidc';

/** What a token model must tell the issuance step (every model fedgate writes has both). */
export interface TokenModel {
  assertionId: string;
  notOnOrAfter: Date;
}

export interface TokenRecipe<M extends TokenModel> {
  /** Claims → the protocol's model. May throw `issuance_failed` (a value no token can carry): audited. */
  build(claims: ClaimSet, now: Date): M;
  /** A reason the protocol refuses this model (answered by the caller, e.g. SAML InvalidNameIDPolicy). */
  refuse?(model: M): string | undefined;
  /** The signed token (or protocol message carrying it). May throw `issuance_failed`: audited. */
  write(model: M, now: Date): string;
  /** What the session remembers about the party for sign-out; absent: nothing (no session, WS-Trust). */
  participant?(model: M): Participant | undefined;
  /** The protocol's own fields on the `token_issued` line. */
  auditFields?(
    model: M,
  ): Pick<
    audit.TokenIssuedEvent,
    'inResponseTo' | 'encrypted' | 'endpoint' | 'tokenType' | 'clientApplication'
  >;
}

export interface IssueRequest {
  protocol: IssuingProtocol;
  rp: RelyingParty;
  auth: AuthenticationContext;
  /** The endpoint the request came to (the x-ms-endpoint-absolute-path claim). */
  endpointPath: string;
  /** An active (WS-Trust) request: x-ms-client-application is passed to the rules. */
  active?: boolean;
  /** The browser's SSO session the token is issued in; absent for WS-Trust. */
  session?: SsoSession | undefined;
}

/**
 * The issuance input of a browser sign-in: the user of `session`, authenticated the way and when the session says
 * (its certificate too, and the second factors verified in it: the MFA claims come from the session alone, corpus
 * B5.4), at AD FS's passive endpoint with its trailing slash (the x-ms-endpoint-absolute-path claim).
 */
export function inBrowserSession(
  protocol: 'wsfed' | 'saml2',
  rp: RelyingParty,
  user: DirectoryUser,
  session: SsoSession,
): IssueRequest & { session: SsoSession } {
  return {
    protocol,
    rp,
    auth: sessionAuth(user, session),
    endpointPath: `${ROUTES.passive}/`,
    session,
  };
}

/** How the user of a browser session authenticated, as the claims step takes it (every browser protocol). */
export function sessionAuth(user: DirectoryUser, session: SsoSession): AuthenticationContext {
  return {
    user,
    method: session.authMethod,
    instant: new Date(session.authInstant),
    certificate: session.certificate,
    mfa: session.mfa,
    persistent: session.persistent,
  };
}

export type Issued<M extends TokenModel> =
  | { kind: 'token'; xml: string; model: M; now: Date }
  | { kind: 'refused'; reason: string; model: M; now: Date };

/** The authorization rules denied: every protocol shows or faults the same error (AD FS 1201 audited already). */
function accessDenied(rp: RelyingParty, reason: string): FederationError {
  return new FederationError('access_denied', 'You do not have access to this application.', {
    detail: `${rp.identifier}: ${reason}`,
  });
}

/** A recipe that never refuses always gives a token. */
export async function issueToken<M extends TokenModel>(
  s: Services,
  req: Request,
  res: Response,
  o: IssueRequest,
  recipe: TokenRecipe<M> & { refuse?: never },
): Promise<Extract<Issued<M>, { kind: 'token' }>>;
export async function issueToken<M extends TokenModel>(
  s: Services,
  req: Request,
  res: Response,
  o: IssueRequest,
  recipe: TokenRecipe<M>,
): Promise<Issued<M>>;
export async function issueToken<M extends TokenModel>(
  s: Services,
  req: Request,
  res: Response,
  o: IssueRequest,
  recipe: TokenRecipe<M>,
): Promise<Issued<M>> {
  const outcome = await issuanceClaims(s, req, res, {
    protocol: o.protocol,
    rp: o.rp,
    auth: o.auth,
    endpointPath: o.endpointPath,
    active: o.active === true,
  });
  if (!outcome.permitted) throw accessDenied(o.rp, outcome.reason);
  const now = s.clock.now();
  const audited = { protocol: o.protocol, rp: o.rp, auth: o.auth };
  const model = issueAudited(s, req, res, audited, () => recipe.build(outcome.claims, now));
  const refusal = recipe.refuse?.(model);
  if (refusal !== undefined) return { kind: 'refused', reason: refusal, model, now };
  const xml = issueAudited(s, req, res, audited, () => recipe.write(model, now));
  if (o.session !== undefined) {
    const p = recipe.participant?.(model);
    if (p !== undefined) await s.participants.remember(o.session, p);
  }
  audit.tokenIssued(s.audit, {
    protocol: o.protocol,
    assertionId: model.assertionId,
    rp: o.rp.identifier,
    upn: o.auth.user.userPrincipalName,
    objectGuid: o.auth.user.objectGuid.toString('base64'),
    method: o.auth.method,
    claims: claimsAudit(outcome),
    ip: req.ip,
    activityId: res.locals.activityId,
    notOnOrAfter: model.notOnOrAfter.toISOString(),
    ...recipe.auditFields?.(model),
  });
  return { kind: 'token', xml, model, now };
}
