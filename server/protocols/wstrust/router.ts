/**
 * WS-Trust usernamemixed endpoints (2005 and 1.3) and the MEX document, AD FS paths (entra-protocol §3):
 *   POST /adfs/services/trust/2005/usernamemixed, POST /adfs/services/trust/13/usernamemixed,
 *   GET  /adfs/services/trust/mex (also ?wsdl and ?xsd=xsd0|1|2).
 * Endpoints not implemented (windowstransport, certificatemixed, kerberosmixed, issuedtoken*) are not
 * routed at all, so they answer 404 like any unknown path; switched-off endpoints likewise.
 *
 * One request, in order (nothing touches the directory before every structural and freshness rule passed):
 *  1. HTTPS only: the socket is TLS, or a configured trusted proxy says it terminated TLS
 *     (X-Forwarded-Proto, believed only from listen.trustedProxies) — corpus B4.1;
 *  2. content type SOAP 1.2 (application/soap+xml) or SOAP 1.1 (text/xml), body ≤ wstrust.maxRequestBytes
 *     (413 before any parsing, B1.5), UTF-8, strict XML (soap.ts, B1);
 *  3. the RST's structure (request.ts, B4.2), timestamp within the skew window (B4.3);
 *  4. replay caches: wsa:MessageID, and Nonce+Created when the UsernameToken has a Nonce (B4.3);
 *  5. AppliesTo resolved against the trust registry (extSTS.srf is an alias of the Microsoft 365 trust);
 *  6. the shared credential step (authn/password.ts, with smart lockout): every credential failure gives one
 *     identical fault (B4.4);
 *  7. the trust's MFA policy (authn/mfa/policy.ts, the sets of authn/mfa/trust-policy.ts): usernamemixed has no
 *     way to ask for a second factor, so a request the policy requires MFA for is refused (AD FS: "WS-Trust
 *     requests can't do MFA; if rules fire, no token", adfs-reference.md §2 [PS]), audited as mfa_required
 *     refused, never issued without it;
 *  8. the shared issuance step (issuance/issue-token.ts): the relying party's claim rules and authorization,
 *     the same SAML 1.1 model as WS-Federation (or, when the RST's TokenType asks for SAML 2.0, the SAML-P
 *     assertion model), signed, audited; the response.
 */
import { createHash } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import {
  decideMfa,
  describeMfaReason,
  hasRuleSources,
  type MfaDecision,
} from '../../authn/mfa/policy.ts';
import { authenticateWithPassword } from '../../authn/password.ts';
import type { DirectoryUser } from '../../directory/types.ts';
import { FederationError } from '../../lib/errors.ts';
import { AuthMethods, type ClaimSet } from '../../claims/types.ts';
import { mfaRequired, signinEmptyCredentials } from '../../observability/audit.ts';
import type { Services } from '../../services.ts';
import {
  writeSignedSaml11Assertion,
  writeSignedSaml2Assertion,
  type Saml11AssertionModel,
  type Saml2AssertionModel,
} from '../../tokens/index.ts';
import { toSaml2Model } from '../../tokens/saml2-model.ts';
import { toSaml11Model } from '../../tokens/saml11-model.ts';
import type { RelyingParty } from '../../trust/registry.ts';
import { issueToken } from '../issuance/issue-token.ts';
import { requestContextOf } from '../issuance/request-context.ts';
import { MEX_PATH, TRUST_13, TRUST_2005, type TrustVersionInfo } from './constants.ts';
import { faultEdge, wstrustFault } from './fault.ts';
import { buildMex, mexSchema } from './mex.ts';
import { checkTimestamp, readIssueRequest, type IssueRequest } from './request.ts';
import { writeIssueResponse } from './response.ts';
import { decodeBody, parseXmlStrict, readEnvelope, soapVersionOf } from './soap.ts';

/** The assertion the RST asked for, with what the issuance step reads of every token model. */
type WsTrustToken = { assertionId: string; notOnOrAfter: Date } & (
  { kind: 'saml11'; model: Saml11AssertionModel } | { kind: 'saml2'; model: Saml2AssertionModel }
);

const sha256 = (s: string): string => createHash('sha256').update(s).digest('base64url');

export function wstrustRouter(s: Services): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  const cfg = s.config.wstrust;
  const skew = cfg.clockSkewSeconds;
  // Replay entries live as long as a message could still be accepted: Created within ±skew of now.
  const replayTtl = 2 * skew + 60;

  const rawBody = express.raw({
    type: () => true,
    limit: cfg.maxRequestBytes,
  });

  function resolveTrust(appliesTo: string): { rp: RelyingParty; audience: string } {
    const rp = s.trusts.find(appliesTo);
    if (rp === undefined)
      throw wstrustFault('invalid_scope', `unknown AppliesTo ${appliesTo.slice(0, 200)}`);
    // The token's Audience is the identifier the client asked for, in the trust's registered spelling (AD FS
    // answers extSTS.srf requests with an extSTS.srf Audience, fixtures/real-world/adfs-rst_response.xml).
    const norm = (x: string): string => (x.endsWith('/') ? x.slice(0, -1) : x);
    const audience =
      [rp.identifier, ...rp.aliases].find((id) => norm(id) === norm(appliesTo)) ?? rp.identifier;
    return { rp, audience };
  }

  /**
   * The assertion model the RST asked for, from the claims the relying party's rules issued: SAML 1.1 (the
   * default, the WS-Federation model) or SAML 2.0 (the SAML-P model's bare assertion, never the Response).
   * SAML 2.0 here: bearer SubjectConfirmation whose Recipient is the AppliesTo address (the party the client
   * presents the token to; there is no ACS in WS-Trust), Audience = AppliesTo, AuthnStatement
   * PasswordProtectedTransport, no SessionIndex (no session behind an active sign-in).
   */
  function tokenModel(
    kind: IssueRequest['tokenType'],
    rp: RelyingParty,
    claims: ClaimSet,
    audience: string,
    now: Date,
    authInstant: Date,
  ): WsTrustToken {
    const assertionId = `_${s.random.uuid()}`;
    if (kind === 'saml2') {
      const base = toSaml2Model({
        rp,
        claims,
        assertionId,
        issuer: s.config.issuerUri,
        acs: audience,
        now,
        authMethod: AuthMethods.password,
        authInstant,
        sessionIndex: assertionId,
      });
      const model = { ...base, audience, authn: { ...base.authn, sessionIndex: undefined } };
      return { kind, assertionId, notOnOrAfter: model.notOnOrAfter, model };
    }
    const model = toSaml11Model({
      claims,
      assertionId,
      issuer: s.config.issuerUri,
      audience,
      now,
      lifetimeMinutes: rp.tokenLifetimeMinutes,
      authMethod: AuthMethods.password,
      authInstant,
      requireNameIdentifier: rp.claimsPreset === 'microsoft365',
    });
    return { kind, assertionId, notOnOrAfter: model.notOnOrAfter, model };
  }

  const signed = (t: WsTrustToken): string =>
    t.kind === 'saml2'
      ? writeSignedSaml2Assertion(t.model, s.signing)
      : writeSignedSaml11Assertion(t.model, s.signing);

  async function replayCheck(rq: IssueRequest): Promise<void> {
    if (!(await s.store.markSeen('replay', `wstrust:msgid:${sha256(rq.messageId)}`, replayTtl)))
      throw wstrustFault('replay', 'wsa:MessageID already seen');
    if (rq.nonce !== undefined) {
      const key = `wstrust:nonce:${sha256(`${rq.nonce}\u0000${rq.tokenCreated ?? ''}`)}`;
      if (!(await s.store.markSeen('replay', key, replayTtl)))
        throw wstrustFault('replay', 'UsernameToken Nonce+Created already seen');
    }
  }

  /**
   * Step 7: refuses (MSIS3127 RequestFailed, the fault AD FS answers a request it will not issue for; the MSIS code
   * AD FS logs for this case is not documented, adfs-reference.md §2) when the trust's MFA policy requires a
   * second factor for this user and request. The policy sees what a browser sign-in's would: the password method,
   * group SIDs, insidecorporatenetwork and the x-ms-* claims of this active request. A rule that fails or a
   * directory outage is handled as policy.ts says (fail closed; outage = unavailable fault).
   */
  async function mfaCheck(
    version: TrustVersionInfo,
    req: Request,
    res: Response,
    rp: RelyingParty,
    user: DirectoryUser,
    now: Date,
  ): Promise<void> {
    const sets = s.mfaPolicies.setsFor(rp);
    if (!hasRuleSources(sets)) return;
    let decision: MfaDecision;
    try {
      decision = await decideMfa({
        engine: s.claims,
        sets,
        auth: { user, method: AuthMethods.password, instant: now },
        request: requestContextOf(req, version.path, {
          active: true,
          corporateNetworks: s.config.corporateNetworks,
        }),
      });
    } catch (err) {
      // No verdict without the directory (policy.ts): the node cannot serve now, as the credential step says.
      if (err instanceof FederationError && err.code === 'directory_unavailable')
        throw wstrustFault('unavailable', 'directory unavailable during the MFA policy');
      throw err;
    }
    if (!decision.required) return;
    const reasons = decision.reasons.map(describeMfaReason);
    mfaRequired(s.audit, {
      activityId: res.locals.activityId,
      ip: req.ip,
      account: `guid:${user.objectGuid.toString('base64')}`,
      upn: user.userPrincipalName,
      rp: rp.identifier,
      protocol: 'wstrust',
      reasons,
      outcome: 'refused',
    });
    throw wstrustFault(
      'access_denied',
      `MFA required and WS-Trust usernamemixed cannot do it: ${reasons.join('; ').slice(0, 500)}`,
    );
  }

  async function issue(version: TrustVersionInfo, req: Request, res: Response): Promise<void> {
    // 1. Transport: TLS here, or terminated by a trusted proxy (req.secure honours X-Forwarded-Proto only
    //    from listen.trustedProxies, app 'trust proxy').
    if (!req.secure)
      throw wstrustFault('not_https', `plain HTTP from ${req.socket.remoteAddress ?? '?'}`);
    const ct = soapVersionOf(req.get('content-type'), req.get('soapaction'));
    if (ct === undefined)
      throw wstrustFault(
        'unsupported_media_type',
        `content type ${(req.get('content-type') ?? '').slice(0, 100)}`,
      );
    res.locals.wstrustSoap = ct.soap;
    const body: unknown = req.body;
    if (!Buffer.isBuffer(body)) throw wstrustFault('invalid_request', 'no body');

    // 2–3. Structure and freshness.
    const env = readEnvelope(parseXmlStrict(decodeBody(body)), ct.soap);
    const rq = readIssueRequest(env, { version, transportAction: ct.action });
    const now = s.clock.now();
    checkTimestamp(rq.timestamp, now, skew);
    // 4. Replay caches (shared store: a replay to another node of the farm is caught too).
    await replayCheck(rq);
    // 5. Trust.
    const { rp, audience } = resolveTrust(rq.appliesTo);

    // 6. Credentials. An empty password never reaches the directory (an empty simple bind is anonymous).
    const proxied = req.ips.length > 0;
    if (rq.password === '' || rq.username === '') {
      signinEmptyCredentials(s.audit, {
        method: 'wstrust',
        outcome: 'failure',
        kind: 'bad_credentials',
        reason: 'empty username or password',
        ip: req.ip,
        activityId: res.locals.activityId,
        rp: rp.identifier,
      });
      throw wstrustFault('failed_authentication', 'empty username or password');
    }
    const result = await authenticateWithPassword(s, {
      username: rq.username,
      password: rq.password,
      clientIp: req.ip ?? '',
      forwardedIps: proxied ? req.ips : undefined,
      activityId: res.locals.activityId,
      relyingParty: rp.identifier,
      method: 'wstrust',
    });
    if (!result.ok) {
      if (result.kind === 'unavailable')
        throw wstrustFault('unavailable', `directory unavailable: ${result.reason}`);
      throw wstrustFault('failed_authentication', `credential failure (${result.kind})`);
    }

    // 7. MFA policy: refused here when it requires a second factor.
    await mfaCheck(version, req, res, rp, result.user, now);

    // 8. The shared issuance step: claims (the same rules as /adfs/ls/), authorization, the token, the
    //    token_issued audit line. No session: nothing is remembered for sign-out.
    const issued = await issueToken(
      s,
      req,
      res,
      {
        protocol: 'wstrust',
        rp,
        auth: { user: result.user, method: AuthMethods.password, instant: now },
        endpointPath: version.path,
        active: true,
      },
      {
        build: (claims, issueInstant) =>
          tokenModel(rq.tokenType, rp, claims, audience, issueInstant, now),
        write: signed,
        auditFields: () => ({
          endpoint: version.path,
          tokenType: rq.tokenType,
          clientApplication: req.get('x-ms-client-application'),
        }),
      },
    );
    const out = writeIssueResponse({
      version,
      soap: ct.soap,
      assertionXml: issued.xml,
      assertionId: issued.model.assertionId,
      tokenKind: rq.tokenType,
      tokenTypeUri: rq.tokenTypeUri,
      appliesTo: audience,
      relatesTo: rq.messageId,
      created: issued.now,
      expires: issued.model.notOnOrAfter,
      now: issued.now,
    });
    res.status(200).setHeader('Cache-Control', 'no-store');
    res.type(out.contentType).send(out.body);
  }

  function endpoint(version: TrustVersionInfo): void {
    router.post(version.path, rawBody, (req, res, next) => {
      issue(version, req, res).catch(next);
    });
    router.all(version.path, () => {
      throw wstrustFault('method_not_allowed', 'not POST');
    });
    // The edge of this endpoint: every error becomes a SOAP fault (never an HTML page or a stack trace).
    router.use(version.path, faultEdge(s.log, version));
  }

  if (cfg.endpoints.usernamemixed2005) endpoint(TRUST_2005);
  if (cfg.endpoints.usernamemixed13) endpoint(TRUST_13);

  const mex = cfg.endpoints.mex
    ? buildMex({
        publicUrl: s.config.publicUrl,
        usernamemixed2005: cfg.endpoints.usernamemixed2005,
        usernamemixed13: cfg.endpoints.usernamemixed13,
      })
    : undefined;
  if (mex !== undefined) {
    router.get(MEX_PATH, (req, res, next) => {
      const q = req.query;
      const xsd = q.xsd;
      res.setHeader('Cache-Control', 'public, max-age=3600');
      if (xsd === undefined) {
        // /mex and /mex?wsdl are the same document (AD FS serves both).
        res.type('text/xml; charset=utf-8').send(mex);
        return;
      }
      const schema = typeof xsd === 'string' ? mexSchema(xsd) : undefined;
      if (schema === undefined) {
        next(); // → 404
        return;
      }
      res.type('text/xml; charset=utf-8').send(schema);
    });
  }
  return router;
}
