/**
 * SAML 2.0 identity provider on /adfs/ls/ (AD FS's one browser endpoint, entra-protocol §5.1): a `SAMLRequest`
 * (AuthnRequest or LogoutRequest) or `SAMLResponse` (LogoutResponse during single logout) selects SAML;
 * anything else falls through to WS-Federation. Web Browser SSO profile (SAML Profiles §4.1), Single Logout
 * profile (§4.4), HTTP-Redirect and HTTP-POST bindings.
 *
 * Every check on an AuthnRequest runs before any sign-in page is shown (issue 5 §1, corpus B1–B3): strict
 * decode and parse; Issuer names a SAML trust; signature (Redirect query signature or POST enveloped) with
 * keys only from the SP's metadata, required when the metadata or policy says so; ID an NCName; IssueInstant
 * within the window; Destination ours; ID not seen before; the ACS resolved only from metadata; RelayState
 * bounded. Until the ACS is known, every failure is a local error page: nothing is ever posted to an address
 * that is not registered for the party. Afterwards, NoPassive / InvalidNameIDPolicy / RequestDenied go to the
 * ACS as a signed status Response.
 */
import express, { type Request, type Response, type Router } from 'express';
import { sessionStoreKey, type SsoSession } from '../../authn/session.ts';
import { claimsAudit } from '../../claims/audit.ts';
import type { DirectoryUser } from '../../directory/types.ts';
import { readCookie, clearCookie, SSO_COOKIE } from '../../http/cookies.ts';
import { formPostCsp, noStore, param, route } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import {
  SignatureRejected,
  verifyEnvelopedSignature,
  rootSignature,
} from '../../lib/xml-signature.ts';
import type { Services } from '../../services.ts';
import { CONSENT_UNSPECIFIED, writeSignedSaml2Response } from '../../tokens/index.ts';
import { matchReplyUrl, type RelyingParty, type SamlTrust } from '../../trust/registry.ts';
import { BINDING_POST, BINDING_REDIRECT, type SamlEndpoint } from '../../trust/saml-metadata.ts';
import { passiveEndpoint } from '../metadata/federation-metadata.ts';
import { methodOfSession, type BrowserSignIn, type SignInMethod } from '../browser-signin.ts';
import { issuanceClaims, issueAudited } from '../request-context.ts';
import { sendSignedOut, takeWsFedCleanup, type SignOutNext } from '../signout.ts';
import { NAMEID_UNSPECIFIED, pinnedNameIdFormat, toSaml2Model } from '../../tokens/saml2-model.ts';
import { decodePost, decodeRedirect, redirectUrl, verifyRedirectSignature } from './bindings.ts';
import {
  parseMessage,
  readAuthnRequest,
  readLogoutRequest,
  readLogoutResponse,
  samlError,
  STATUS,
  writeLogoutRequest,
  writeLogoutResponse,
  writeStatusResponse,
  type RequestedAuthnContext,
} from './messages.ts';

/** What a SAML sign-in keeps in its pending request (browser-signin.ts). */
export interface Saml2State {
  acs: string;
  requestId?: string | undefined;
  relayState?: string | undefined;
  /** The NameIDPolicy Format the request demanded (absent: none, or unspecified). */
  nameIdFormat?: string | undefined;
}

/** One service provider's part in an SSO session, for single logout. */
interface SamlParticipant {
  rp: string;
  nameId: string;
  nameIdFormat: string;
  sessionIndex: string;
}

/** A single logout in progress (SAML Profiles §4.4.3.3: the IdP logs out every other participant in turn). */
interface LogoutState {
  origin?: { rp: string; requestId: string; relayState?: string | undefined } | undefined;
  queue: SamlParticipant[];
  /** The LogoutRequest ID sent to the participant currently being logged out. */
  awaiting?: { rp: string; requestId: string } | undefined;
  partial: boolean;
  /** wsignoutcleanup1.0 URLs of the session's WS-Fed parties, shown on the page the chain ends with. */
  cleanup?: string[] | undefined;
}

// Keyed by the session's store key, never the cookie value (corpus C7.2, authn/session.ts).
const PARTICIPANTS = (sessionId: string): string => `saml2-sp:${sessionStoreKey(sessionId)}`;
const LOGOUT = (id: string): string => id;
const LOGOUT_TTL_SECONDS = 10 * 60;

type Binding = 'redirect' | 'post';

interface Inbound {
  binding: Binding;
  xml: string;
  doc: Document;
  relayState?: string | undefined;
  kind: 'SAMLRequest' | 'SAMLResponse';
}

/** Authentication context classes fedgate's methods produce and satisfy. */
const CLASS_METHOD: Readonly<Partial<Record<string, SignInMethod>>> = {
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport': 'password',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Password': 'password',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:X509': 'certificate',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient': 'certificate',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard': 'certificate',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI': 'certificate',
};
/** Strength order for minimum/better/maximum (a certificate is stronger than a password). */
const STRENGTH: Readonly<Record<SignInMethod, number>> = { password: 1, certificate: 2 };
const AC_UNSPECIFIED = 'urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified';

/**
 * The sign-in methods that satisfy a RequestedAuthnContext (SAML Core §3.3.2.2.1): undefined when any will do,
 * an empty list when none can (the caller answers NoAuthnContext). Classes fedgate does not know count for
 * nothing; `unspecified` matches any method.
 */
export function methodsForContext(
  rac: RequestedAuthnContext | undefined,
): SignInMethod[] | undefined {
  if (rac === undefined) return undefined;
  if (rac.classRefs.includes(AC_UNSPECIFIED)) return undefined;
  const known = [
    ...new Set(
      rac.classRefs.flatMap((r): SignInMethod[] => {
        const m = CLASS_METHOD[r];
        return m === undefined ? [] : [m];
      }),
    ),
  ];
  if (known.length === 0) return [];
  const all: SignInMethod[] = ['password', 'certificate'];
  const lo = Math.min(...known.map((m) => STRENGTH[m]));
  const hi = Math.max(...known.map((m) => STRENGTH[m]));
  switch (rac.comparison) {
    case 'exact':
      return known;
    case 'minimum':
      return all.filter((m) => STRENGTH[m] >= lo);
    case 'better':
      return all.filter((m) => STRENGTH[m] > lo);
    case 'maximum':
      return all.filter((m) => STRENGTH[m] <= hi);
  }
}

export function saml2Router(s: Services, flow: BrowserSignIn): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  const bodyParser = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 32 });
  const endpoint = passiveEndpoint(s.config.publicUrl);
  const cfg = s.config.saml2;

  function samlTrust(issuer: string): { rp: RelyingParty; saml: SamlTrust } {
    const rp = s.trusts.find(issuer);
    if (rp?.saml === undefined)
      throw new FederationError(
        'unknown_relying_party',
        'The application that sent you here is not known to this sign-in service.',
        { detail: `unknown SAML issuer ${issuer.slice(0, 200)}` },
      );
    return { rp, saml: rp.saml };
  }

  function inbound(req: Request, source: unknown): Inbound {
    const binding: Binding = req.method === 'GET' ? 'redirect' : 'post';
    const reqParam = param(source, 'SAMLRequest', 48 * 1024);
    const resParam = param(source, 'SAMLResponse', 48 * 1024);
    if ((reqParam === undefined) === (resParam === undefined))
      throw samlError('exactly one of SAMLRequest and SAMLResponse is expected');
    const kind = reqParam !== undefined ? 'SAMLRequest' : 'SAMLResponse';
    const value = (reqParam ?? resParam) as string;
    const relayState = param(source, 'RelayState', 8192);
    if (relayState !== undefined && Buffer.byteLength(relayState) > cfg.maxRelayStateBytes)
      throw samlError(
        `RelayState longer than ${cfg.maxRelayStateBytes} bytes`,
        'The sign-in request is too long.',
      );
    const xml = binding === 'redirect' ? decodeRedirect(value) : decodePost(value);
    return { binding, xml, doc: parseMessage(xml), relayState, kind };
  }

  /**
   * Checks the message signature against the SP's metadata keys. Returns the document to read fields from
   * (for an enveloped signature: the verified canonical bytes, re-parsed) and whether it was signed.
   */
  function verified(
    req: Request,
    m: Inbound,
    trust: SamlTrust,
    required: boolean,
  ): { doc: Document; signed: boolean } {
    const certs = trust.metadata.signingCertificates;
    const policy = { allowSha1: trust.policy.allowSha1 };
    try {
      if (m.binding === 'redirect') {
        const r = verifyRedirectSignature(req.originalUrl, m.kind, certs, policy);
        if (r.signed) return { doc: m.doc, signed: true };
      } else if (rootSignature(m.doc) !== undefined) {
        const canonical = verifyEnvelopedSignature(m.xml, m.doc, certs, policy);
        return { doc: parseMessage(canonical), signed: true };
      }
    } catch (e) {
      if (e instanceof SignatureRejected)
        throw new FederationError(
          'bad_request',
          'The SAML message signature could not be verified.',
          {
            detail: e.message,
          },
        );
      throw e;
    }
    if (required)
      throw new FederationError('bad_request', 'The SAML message must be signed.', {
        detail: 'unsigned message from a service provider that must sign',
      });
    return { doc: m.doc, signed: false };
  }

  /** IssueInstant window and replay cache (corpus B3.7); Destination, when present, must be us (B3.3). */
  async function freshness(
    kind: string,
    issuer: string,
    id: string,
    issueInstant: Date,
    destination: string | undefined,
    signed: boolean,
  ): Promise<void> {
    const now = s.clock.now().getTime();
    const t = issueInstant.getTime();
    if (t < now - (cfg.requestMaxAgeSeconds + cfg.clockSkewSeconds) * 1000)
      throw samlError(
        `${kind} IssueInstant too old`,
        'The sign-in request has expired. Go back to the application and try again.',
      );
    if (t > now + cfg.clockSkewSeconds * 1000)
      throw samlError(`${kind} IssueInstant in the future`);
    if (destination !== undefined) {
      if (destination.replace(/\/+$/, '') !== endpoint.replace(/\/+$/, ''))
        throw samlError(`${kind} Destination ${destination.slice(0, 200)} is not this endpoint`);
    } else if (signed) {
      throw samlError(`signed ${kind} without Destination`);
    }
    const ttl = cfg.requestMaxAgeSeconds + 2 * cfg.clockSkewSeconds;
    if (!(await s.store.markSeen('replay', `saml2:${kind}:${issuer}:${id}`, ttl)))
      throw samlError(
        `${kind} ID ${id} replayed`,
        'This sign-in request was already used. Go back to the application and try again.',
      );
  }

  /** The ACS from metadata only (SAML Profiles §4.1.4.1, corpus B3.1). */
  function resolveAcs(
    trust: SamlTrust,
    r: {
      acsUrl?: string | undefined;
      acsIndex?: number | undefined;
      protocolBinding?: string | undefined;
    },
  ): string {
    const post = trust.metadata.assertionConsumerServices.filter((a) => a.binding === BINDING_POST);
    const bad = (detail: string): FederationError =>
      new FederationError(
        'invalid_reply_address',
        'The return address in the sign-in request is not registered for this application.',
        { detail },
      );
    if (r.protocolBinding !== undefined && r.protocolBinding !== BINDING_POST)
      throw bad(`ProtocolBinding ${r.protocolBinding.slice(0, 100)} not supported`);
    if (r.acsIndex !== undefined) {
      if (r.acsUrl !== undefined) throw bad('both AssertionConsumerServiceURL and Index');
      const hit = post.find((a) => a.index === r.acsIndex);
      if (hit === undefined) throw bad(`AssertionConsumerServiceIndex ${r.acsIndex} unknown`);
      return hit.location;
    }
    if (r.acsUrl !== undefined) {
      const hit = post.find((a) => a.location === r.acsUrl);
      if (hit === undefined)
        throw bad(`AssertionConsumerServiceURL ${r.acsUrl.slice(0, 200)} not in metadata`);
      return hit.location;
    }
    const def =
      post.find((a) => a.isDefault === true) ??
      [...post].sort((x, y) => (x.index ?? 0) - (y.index ?? 0))[0];
    if (def === undefined) throw bad('no HTTP-POST AssertionConsumerService');
    return def.location;
  }

  function postForm(
    res: Response,
    action: string,
    fields: { name: string; value: string }[],
  ): void {
    const nonce = formPostCsp(res, action);
    res
      .status(200)
      .type('html')
      .send(s.views.formPost(action, fields, nonce));
  }

  function deliverResponse(
    res: Response,
    acs: string,
    xml: string,
    relayState: string | undefined,
  ): void {
    const fields = [{ name: 'SAMLResponse', value: Buffer.from(xml, 'utf8').toString('base64') }];
    if (relayState !== undefined) fields.push({ name: 'RelayState', value: relayState });
    postForm(res, acs, fields);
  }

  function statusToAcs(
    res: Response,
    st: Saml2State,
    status: string,
    subStatus: string,
    audit: Record<string, unknown>,
  ): void {
    const xml = writeStatusResponse(
      {
        id: `_${s.random.uuid()}`,
        issuer: s.config.issuerUri,
        issueInstant: s.clock.now(),
        destination: st.acs,
        inResponseTo: st.requestId,
        status,
        subStatus,
      },
      s.signing,
    );
    s.audit.info(
      { event: 'saml2_status', status: subStatus, activityId: res.locals.activityId, ...audit },
      'SAML status response',
    );
    deliverResponse(res, st.acs, xml, st.relayState);
  }

  async function participants(session: SsoSession): Promise<SamlParticipant[]> {
    return (await s.store.find<SamlParticipant[]>('session', PARTICIPANTS(session.id))) ?? [];
  }

  async function issue(
    req: Request,
    res: Response,
    p: { rp: RelyingParty; user: DirectoryUser; session: SsoSession; state: unknown },
  ): Promise<void> {
    const st = p.state as Saml2State;
    const saml = p.rp.saml;
    if (saml === undefined)
      throw new FederationError(
        'session_expired',
        'Your sign-in page expired. Go back to the application and sign in again.',
      );
    const authInstant = new Date(p.session.authInstant);
    const outcome = await issuanceClaims(s, req, res, {
      protocol: 'saml2',
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
    const now = s.clock.now();
    const existing = (await participants(p.session)).find((x) => x.rp === p.rp.identifier);
    const sessionIndex = existing?.sessionIndex ?? `_${s.random.uuid()}`;
    const audited = {
      protocol: 'saml2' as const,
      rp: p.rp,
      auth: { user: p.user, method: p.session.authMethod, instant: authInstant },
    };
    const model = issueAudited(s, req, res, audited, () =>
      toSaml2Model({
        rp: p.rp,
        claims: outcome.claims,
        assertionId: `_${s.random.uuid()}`,
        issuer: s.config.issuerUri,
        acs: st.acs,
        inResponseTo: st.requestId,
        now,
        authMethod: p.session.authMethod,
        authInstant,
        sessionIndex,
      }),
    );
    // The rules issued no nameidentifier (or one of another format) but the request demanded a format: SAML Core
    // §3.4.1.1 (the IdP cannot issue an identifier in the requested format) → InvalidNameIDPolicy, what AD FS
    // answers; delivered to the ACS already matched against the trust (issue 14 §8).
    if (st.nameIdFormat !== undefined && model.nameId?.format !== st.nameIdFormat) {
      statusToAcs(res, st, STATUS.requester, STATUS.invalidNameIdPolicy, {
        rp: p.rp.identifier,
        requestId: st.requestId,
        reason: model.nameId === undefined ? 'no nameidentifier claim' : 'nameidentifier format',
      });
      return;
    }
    const xml = issueAudited(s, req, res, audited, () =>
      writeSignedSaml2Response(
        {
          responseId: `_${s.random.uuid()}`,
          issueInstant: now,
          destination: st.acs,
          inResponseTo: st.requestId,
          consent: CONSENT_UNSPECIFIED,
          assertion: model,
        },
        s.signing,
        {
          signAssertion: saml.policy.signAssertion,
          signResponse: saml.policy.signResponse,
          encryptAssertion: saml.policy.encryption,
        },
      ),
    );
    await s.sessions.addRelyingParty(p.session, p.rp.identifier);
    const list = (await participants(p.session)).filter((x) => x.rp !== p.rp.identifier);
    // A LogoutRequest must name the principal (SAML Core §3.7.1): a party given no NameID cannot be sent one.
    if (model.nameId !== undefined)
      list.push({
        rp: p.rp.identifier,
        nameId: model.nameId.value,
        nameIdFormat: model.nameId.format,
        sessionIndex,
      });
    const remaining = Math.ceil((new Date(p.session.expiresAt).getTime() - now.getTime()) / 1000);
    if (remaining > 0) await s.store.put('session', PARTICIPANTS(p.session.id), list, remaining);
    s.audit.info(
      {
        event: 'token_issued',
        eventId: 1200, // AD FS 1200 (observability/audit-events.ts)
        protocol: 'saml2',
        assertionId: model.assertionId,
        rp: p.rp.identifier,
        upn: p.user.userPrincipalName,
        objectGuid: p.user.objectGuid.toString('base64'),
        method: p.session.authMethod,
        claims: claimsAudit(outcome),
        ip: req.ip,
        activityId: res.locals.activityId,
        inResponseTo: st.requestId,
        notOnOrAfter: model.notOnOrAfter.toISOString(),
        encrypted: saml.policy.encryption?.algorithm ?? false,
      },
      'token issued',
    );
    deliverResponse(res, st.acs, xml, st.relayState);
  }
  flow.register('saml2', issue);

  // IdP-initiated single logout: a sign-out at fedgate (wsignout1.0) logs out this session's SAML parties.
  flow.onSignOut(async (_req, res, session, cleanup) => {
    const parts = (await participants(session)).filter((p) => {
      const rp = s.trusts.find(p.rp);
      return rp?.saml !== undefined && sloEndpoint(rp.saml) !== undefined;
    });
    await s.store.destroy('session', PARTICIPANTS(session.id));
    if (parts.length === 0) return false;
    await continueLogout(res, s.random.token(), {
      queue: parts,
      partial: false,
      cleanup: [...cleanup],
    });
    return true;
  });

  async function authnRequest(req: Request, res: Response, m: Inbound): Promise<void> {
    // Issuer first (unsigned at this point) only to find the keys; everything used is re-read from the
    // verified document below.
    const claimed = readAuthnRequest(m.doc);
    const { rp, saml } = samlTrust(claimed.issuer);
    const required =
      saml.metadata.authnRequestsSigned ||
      saml.policy.requireSignedRequests ||
      cfg.requireSignedRequests;
    const v = verified(req, m, saml, required);
    const ar = v.signed ? readAuthnRequest(v.doc) : claimed;
    if (ar.issuer !== claimed.issuer)
      throw samlError('Issuer differs between signed and received message');
    await freshness('AuthnRequest', ar.issuer, ar.id, ar.issueInstant, ar.destination, v.signed);
    const acs = resolveAcs(saml, ar);
    const st: Saml2State = {
      acs,
      requestId: ar.id,
      relayState: m.relayState,
      nameIdFormat: ar.nameIdFormat === NAMEID_UNSPECIFIED ? undefined : ar.nameIdFormat,
    };
    const audit = { rp: rp.identifier, requestId: ar.id };

    // NameIDPolicy (corpus B3.10): a format the trust never gives is refused before any sign-in. When the format
    // comes from the rules (no pinned format), it is known only once they ran: issue() compares it there.
    const pinned = pinnedNameIdFormat(rp);
    if (st.nameIdFormat !== undefined && pinned !== undefined && st.nameIdFormat !== pinned) {
      statusToAcs(res, st, STATUS.requester, STATUS.invalidNameIdPolicy, audit);
      return;
    }
    // RequestedAuthnContext: the methods that satisfy it; none that fedgate offers → NoAuthnContext (§3.3.2.2.1).
    const methods = methodsForContext(ar.requestedAuthnContext);
    if (
      methods !== undefined &&
      !methods.some((m) => m === 'password' || s.certificates !== undefined)
    ) {
      statusToAcs(res, st, STATUS.responder, STATUS.noAuthnContext, audit);
      return;
    }
    if (ar.isPassive) {
      // IsPassive (SAML Core §3.4.1): no user interaction; without a usable session, NoPassive (B3.9).
      const current = ar.forceAuthn ? undefined : await flow.currentSession(req, res);
      if (
        current === undefined ||
        (methods !== undefined && !methods.includes(methodOfSession(current.session.authMethod)))
      ) {
        statusToAcs(res, st, STATUS.responder, STATUS.noPassive, audit);
        return;
      }
      await issue(req, res, { rp, state: st, ...current });
      return;
    }
    await flow.begin(req, res, {
      protocol: 'saml2',
      rp,
      state: st,
      force: ar.forceAuthn,
      methods,
    });
  }

  // ----------------------------------------------------------------------------------------------------
  // Single logout

  function sloEndpoint(trust: SamlTrust): SamlEndpoint | undefined {
    const slo = trust.metadata.singleLogoutServices;
    return (
      slo.find((e) => e.binding === BINDING_REDIRECT) ?? slo.find((e) => e.binding === BINDING_POST)
    );
  }

  /** One SAML message for an SP's SLO endpoint with its binding (Redirect signed by query, POST enveloped). */
  function sloMessage(
    ep: SamlEndpoint,
    kind: 'SAMLRequest' | 'SAMLResponse',
    write: (signed: boolean, destination: string) => string,
    relayState: string | undefined,
  ): SignOutNext {
    const location = kind === 'SAMLResponse' ? (ep.responseLocation ?? ep.location) : ep.location;
    if (ep.binding === BINDING_REDIRECT)
      return {
        kind: 'redirect',
        url: redirectUrl(location, kind, write(false, location), relayState, s.signing),
      };
    const fields: { name: string; value: string }[] = [
      { name: kind, value: Buffer.from(write(true, location), 'utf8').toString('base64') },
    ];
    if (relayState !== undefined) fields.push({ name: 'RelayState', value: relayState });
    return { kind: 'post', action: location, fields };
  }

  function deliver(res: Response, m: SignOutNext): void {
    if (m.kind === 'redirect') res.redirect(302, m.url);
    else postForm(res, m.action, m.fields);
  }

  function sendToSlo(
    res: Response,
    ep: SamlEndpoint,
    kind: 'SAMLRequest' | 'SAMLResponse',
    write: (signed: boolean, destination: string) => string,
    relayState: string | undefined,
  ): void {
    deliver(res, sloMessage(ep, kind, write, relayState));
  }

  /** Logs out the next participant, or finishes: LogoutResponse to the originator, or the signed-out page. */
  async function continueLogout(
    res: Response,
    logoutId: string,
    state: LogoutState,
  ): Promise<void> {
    const now = s.clock.now();
    for (;;) {
      const next = state.queue.shift();
      if (next === undefined) break;
      const rp = s.trusts.find(next.rp);
      const ep = rp?.saml === undefined ? undefined : sloEndpoint(rp.saml);
      // A participant we cannot reach (trust removed, SLO endpoint gone since it joined) is not logged out: the
      // originator must not hear that everyone was (SAML Core §3.7.3.2, "or if not all participants can be
      // contacted" → PartialLogout).
      if (ep === undefined) {
        state.partial = true;
        continue;
      }
      const requestId = `_${s.random.uuid()}`;
      state.awaiting = { rp: next.rp, requestId };
      await s.store.put('logoutState', LOGOUT(logoutId), state, LOGOUT_TTL_SECONDS);
      sendToSlo(
        res,
        ep,
        'SAMLRequest',
        (signed, destination) =>
          writeLogoutRequest(
            {
              id: requestId,
              issuer: s.config.issuerUri,
              issueInstant: now,
              destination,
              notOnOrAfter: new Date(now.getTime() + 5 * 60_000),
              nameId: next.nameId,
              nameIdFormat: next.nameIdFormat,
              sessionIndex: next.sessionIndex,
            },
            signed ? s.signing : undefined,
          ),
        logoutId,
      );
      return;
    }
    await s.store.destroy('logoutState', LOGOUT(logoutId));
    const origin = state.origin;
    const originRp = origin === undefined ? undefined : s.trusts.find(origin.rp);
    const ep = originRp?.saml === undefined ? undefined : sloEndpoint(originRp.saml);
    // The WS-Fed parties of the session get their wsignoutcleanup1.0 images on the last page of the chain.
    const cleanup = state.cleanup ?? [];
    if (origin === undefined || ep === undefined) {
      sendSignedOut(s, res, { cleanup });
      return;
    }
    const answer = sloMessage(
      ep,
      'SAMLResponse',
      (signed, destination) =>
        writeLogoutResponse(
          {
            id: `_${s.random.uuid()}`,
            issuer: s.config.issuerUri,
            issueInstant: now,
            destination,
            inResponseTo: origin.requestId,
            status: state.partial ? STATUS.responder : STATUS.success,
            subStatus: state.partial ? STATUS.partialLogout : undefined,
          },
          signed ? s.signing : undefined,
        ),
      origin.relayState,
    );
    if (cleanup.length > 0) sendSignedOut(s, res, { cleanup, next: answer });
    else deliver(res, answer);
  }

  async function logoutRequest(req: Request, res: Response, m: Inbound): Promise<void> {
    const claimed = readLogoutRequest(m.doc);
    const { rp, saml } = samlTrust(claimed.issuer);
    // A LogoutRequest must always be signed (corpus B3.8: unsigned = session kill by a guessed NameID).
    const v = verified(req, m, saml, true);
    const lr = readLogoutRequest(v.doc);
    if (lr.issuer !== claimed.issuer)
      throw samlError('Issuer differs between signed and received message');
    await freshness('LogoutRequest', lr.issuer, lr.id, lr.issueInstant, lr.destination, true);
    if (
      lr.notOnOrAfter !== undefined &&
      lr.notOnOrAfter.getTime() <= s.clock.now().getTime() - cfg.clockSkewSeconds * 1000
    )
      throw samlError('LogoutRequest NotOnOrAfter has passed'); // corpus A15
    if (sloEndpoint(saml) === undefined)
      throw samlError('the service provider has no SingleLogoutService');

    const session = await s.sessions.find(readCookie(req, SSO_COOKIE));
    const state: LogoutState = {
      origin: { rp: rp.identifier, requestId: lr.id, relayState: m.relayState },
      queue: [],
      partial: false,
    };
    // The answer when the logout did not end a session (issue 14 §2). SAML Core §3.7.3.2: top-level Success only
    // when the session authority "successfully terminates the principal's session with respect to itself", and
    // PartialLogout (second level) when not all participants confirmed. Neither AD FS nor the spec define a
    // Success for "no such session"; AD FS's logout state machine has a LogoutPartial outcome beside LogoutSuccess
    // (MS-SAMLPR §2.2.5.1, "all session participants might not have been logged out"). Our
    // choice, for both "no session reached us" and "the NameID/SessionIndex do not match this browser's session":
    // top-level Responder (the request was valid; we could not carry it out) with second-level PartialLogout, as
    // java-saml, pac4j and SPID read it. Some IdPs answer Success there (the SP's session is gone either way), but
    // an SP that reads only the top-level code would then tell its user that fedgate's session ended when it may
    // live on (e.g. a browser that withheld the SSO cookie on a cross-site POST): never Success for that.
    if (session === undefined) {
      // No session reached us with this request (none, already ended, or the browser withheld the cookie).
      s.audit.warn(
        {
          event: 'saml2_logout_no_session',
          rp: rp.identifier,
          requestId: lr.id,
          activityId: res.locals.activityId,
        },
        'LogoutRequest found no session; answered PartialLogout',
      );
      state.partial = true;
    } else {
      const parts = await participants(session);
      const me = parts.find((x) => x.rp === rp.identifier);
      const matches =
        me !== undefined &&
        me.nameId === lr.nameId &&
        (lr.sessionIndexes.length === 0 || lr.sessionIndexes.includes(me.sessionIndex));
      if (!matches) {
        // Not this browser's session for that principal: it stays; the SP is told (SAML Core §3.7.3.2).
        s.audit.warn(
          {
            event: 'saml2_logout_mismatch',
            rp: rp.identifier,
            requestId: lr.id,
            activityId: res.locals.activityId,
          },
          'LogoutRequest does not match the session; session kept',
        );
        state.partial = true;
      } else {
        await s.sessions.destroy(session.id);
        await s.store.destroy('session', PARTICIPANTS(session.id));
        clearCookie(res, SSO_COOKIE);
        state.queue = parts.filter((x) => x.rp !== rp.identifier);
        state.cleanup = await takeWsFedCleanup(s, session);
        s.audit.info(
          {
            event: 'signout',
            protocol: 'saml2',
            initiator: rp.identifier,
            objectGuid: session.objectGuid,
            rps: session.relyingParties,
            activityId: res.locals.activityId,
          },
          'signed out',
        );
      }
    }
    await continueLogout(res, s.random.token(), state);
  }

  async function logoutResponse(req: Request, res: Response, m: Inbound): Promise<void> {
    const logoutId = m.relayState ?? '';
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(logoutId))
      throw samlError('LogoutResponse without our RelayState');
    // The issuer names whose keys to check; every field used below is read from the verified message. A party
    // with a signing key in its metadata must sign its LogoutResponse (AD FS requires signed logout messages):
    // an unsigned Success could be made by whoever holds the browser, who sees our LogoutRequest's ID, and would
    // report another party's logout as done. The check runs before the pending logout is used up, so a forged
    // answer cannot end the chain for the real one.
    const { saml } = samlTrust(readLogoutResponse(m.doc).issuer);
    const v = verified(req, m, saml, saml.metadata.signingCertificates.length > 0);
    const lr = readLogoutResponse(v.doc);
    const state = await s.store.consume<LogoutState>('logoutState', LOGOUT(logoutId));
    if (state?.awaiting === undefined)
      throw new FederationError('session_expired', 'The sign-out has expired.');
    if (lr.issuer !== state.awaiting.rp || lr.inResponseTo !== state.awaiting.requestId)
      throw samlError('LogoutResponse does not answer our LogoutRequest');
    if (lr.status !== STATUS.success) state.partial = true;
    state.awaiting = undefined;
    await continueLogout(res, logoutId, state);
  }

  async function handle(req: Request, res: Response, source: unknown): Promise<void> {
    const m = inbound(req, source);
    const root = m.doc.documentElement.localName;
    if (m.kind === 'SAMLRequest' && root === 'AuthnRequest') return authnRequest(req, res, m);
    if (m.kind === 'SAMLRequest' && root === 'LogoutRequest') return logoutRequest(req, res, m);
    if (m.kind === 'SAMLResponse' && root === 'LogoutResponse') return logoutResponse(req, res, m);
    throw samlError(`unsupported SAML message ${root.slice(0, 64)}`);
  }

  const isSaml = (q: unknown): boolean =>
    typeof q === 'object' && q !== null && ('SAMLRequest' in q || 'SAMLResponse' in q);

  router.get('/', noStore, (req, res, next) => {
    if (!isSaml(req.query)) {
      next();
      return;
    }
    route((rq, rs) => handle(rq, rs, rq.query))(req, res, next);
  });
  router.post('/', noStore, bodyParser, (req, res, next) => {
    if (!isSaml(req.body)) {
      next();
      return;
    }
    route((rq, rs) => handle(rq, rs, rq.body))(req, res, next);
  });

  // IdP-initiated sign-on (AD FS: /adfs/ls/idpinitiatedsignon[.aspx]?LoginToRP=<entityID>&RelayState=<url>).
  const idpInitiated = async (req: Request, res: Response): Promise<void> => {
    if (!cfg.idpInitiatedSignOn)
      throw new FederationError('not_found', 'There is no page at this address.');
    const q: unknown = req.query;
    const target = param(q, 'LoginToRP', 1024) ?? param(q, 'loginToRp', 1024);
    const listed = s.trusts.parties.filter((p) => p.saml?.policy.idpInitiated === true);
    if (target === undefined || target === '') {
      res
        .status(200)
        .type('html')
        .send(
          s.views.page('idp-initiated', 'Sign in', {
            sites: listed.map((p) => ({
              name: p.name,
              href: `?LoginToRP=${encodeURIComponent(p.identifier)}`,
            })),
          }),
        );
      return;
    }
    const rp = listed.find((p) => p.identifier === target || s.trusts.find(target) === p);
    if (rp?.saml === undefined)
      throw new FederationError(
        'unknown_relying_party',
        'This site does not allow sign-in from here.',
        {
          detail: `IdP-initiated sign-on to ${target.slice(0, 200)} not allowed`,
        },
      );
    const relay = param(q, 'RelayState', 2048);
    let relayState: string | undefined;
    if (relay !== undefined && relay !== '') {
      // Only a registered URL (corpus B3.4 applied to RelayState).
      relayState = matchReplyUrl({ replyUrls: rp.saml.policy.relayStateUrls }, relay);
      if (relayState === undefined)
        throw new FederationError(
          'invalid_reply_address',
          'The return address is not registered for this application.',
          {
            detail: `RelayState ${relay.slice(0, 200)} not registered`,
          },
        );
    }
    const st: Saml2State = { acs: resolveAcs(rp.saml, {}), relayState };
    await flow.begin(req, res, { protocol: 'saml2', rp, state: st, force: false });
  };
  router.get(['/idpinitiatedsignon', '/idpinitiatedsignon.aspx'], noStore, route(idpInitiated));

  return router;
}
