/**
 * SAML 2.0 Single Logout profile (SAML Profiles §4.4), the IdP's side: reads and verifies an SP's LogoutRequest,
 * logs out the session's other SAML participants one after the other (§4.4.3.3: a front-channel chain, each
 * LogoutRequest answered by a LogoutResponse that continues it), and ends with a LogoutResponse to the party that
 * started it, or the signed-out page. Which session a LogoutRequest ends is decided by the browser pipeline
 * (protocols/browser/), never here.
 */
import type { Request, Response } from 'express';
import type { Participant } from '../../authn/participants.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import type { RelyingParty, SamlTrust } from '../../trust/registry.ts';
import { BINDING_POST, BINDING_REDIRECT, type SamlEndpoint } from '../../trust/saml-metadata.ts';
import { sendFormPost } from '../browser/form-post.ts';
import { HANDLE } from '../browser/pending.ts';
import { sendSignedOut, type SignOutNext } from '../browser/signed-out-page.ts';
import { redirectUrl } from './bindings.ts';
import { freshness, samlTrust, verified, type Inbound } from './inbound.ts';
import {
  readLogoutRequest as readLogoutRequestXml,
  readLogoutResponse,
  samlError,
  STATUS,
  writeLogoutRequest,
  writeLogoutResponse,
} from './messages.ts';

/** The SP whose LogoutRequest started a logout: it gets the LogoutResponse at the end of the chain. */
export interface LogoutOrigin {
  rp: string;
  requestId: string;
  relayState?: string | undefined;
}

/** A LogoutRequest whose signature, issuer and freshness were checked; every field read from the signed bytes. */
export interface VerifiedLogoutRequest {
  rp: RelyingParty;
  origin: LogoutOrigin;
  nameId: string;
  sessionIndexes: string[];
}

type SamlParticipant = Extract<Participant, { protocol: 'saml2' }>;

/** A single logout in progress (SAML Profiles §4.4.3.3: the IdP logs out every other participant in turn). */
interface LogoutState {
  origin?: LogoutOrigin | undefined;
  queue: SamlParticipant[];
  /** The LogoutRequest ID sent to the participant currently being logged out. */
  awaiting?: { rp: string; requestId: string } | undefined;
  partial: boolean;
  /** wsignoutcleanup1.0 URLs of the session's WS-Fed parties, shown on the page the chain ends with. */
  cleanup?: string[] | undefined;
}

/** The logout state's key is the logout id the chain carries as RelayState (a random token). */
const LOGOUT = (id: string): string => id;

function sloEndpoint(trust: SamlTrust): SamlEndpoint | undefined {
  const slo = trust.metadata.singleLogoutServices;
  return (
    slo.find((e) => e.binding === BINDING_REDIRECT) ?? slo.find((e) => e.binding === BINDING_POST)
  );
}

/**
 * Reads a LogoutRequest: claimed issuer → trust → signature (always required) → fields re-read from the verified
 * document → issuer unchanged → freshness → NotOnOrAfter → the SP has an SLO endpoint to answer at.
 */
export async function readLogoutRequest(
  s: Services,
  req: Request,
  m: Inbound,
): Promise<VerifiedLogoutRequest> {
  const claimed = readLogoutRequestXml(m.doc);
  const { rp, saml } = samlTrust(s, claimed.issuer);
  // A LogoutRequest must always be signed (corpus B3.8: unsigned = session kill by a guessed NameID).
  const v = verified(s, req, m, saml, true);
  const lr = readLogoutRequestXml(v.doc);
  if (lr.issuer !== claimed.issuer)
    throw samlError('Issuer differs between signed and received message');
  await freshness(s, 'LogoutRequest', lr.issuer, lr.id, lr.issueInstant, lr.destination, true);
  if (
    lr.notOnOrAfter !== undefined &&
    lr.notOnOrAfter.getTime() <= s.clock.now().getTime() - s.config.saml2.clockSkewSeconds * 1000
  )
    throw samlError('LogoutRequest NotOnOrAfter has passed'); // corpus A15
  if (sloEndpoint(saml) === undefined)
    throw samlError('the service provider has no SingleLogoutService');
  return {
    rp,
    origin: { rp: rp.identifier, requestId: lr.id, relayState: m.relayState },
    nameId: lr.nameId,
    sessionIndexes: lr.sessionIndexes,
  };
}

/**
 * Whether a session participant can be sent a LogoutRequest: a SAML party given a NameID (SAML Core §3.7.1: the
 * request names the principal) whose trust still has a SAML role with a SingleLogoutService.
 */
export function canLogOut(s: Services, p: Participant): boolean {
  if (p.protocol !== 'saml2' || p.nameId === undefined) return false;
  const rp = s.trusts.find(p.rp);
  return rp?.saml !== undefined && sloEndpoint(rp.saml) !== undefined;
}

/** One SAML message for an SP's SLO endpoint with its binding (Redirect signed by query, POST enveloped). */
function sloMessage(
  s: Services,
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

function deliver(s: Services, res: Response, m: SignOutNext): void {
  if (m.kind === 'redirect') res.redirect(302, m.url);
  else sendFormPost(s, res, { action: m.action, fields: m.fields });
}

/**
 * Starts a logout chain: a LogoutRequest to each queued participant in turn, then a LogoutResponse to `origin`
 * (PartialLogout when `partial` or when a participant did not confirm), or the signed-out page without an origin.
 * The session's WS-Fed cleanup images are shown on the last page.
 */
export async function runLogout(
  s: Services,
  res: Response,
  o: { origin?: LogoutOrigin; queue: SamlParticipant[]; partial: boolean; cleanup: string[] },
): Promise<void> {
  await continueLogout(s, res, s.random.token(), {
    origin: o.origin,
    queue: [...o.queue],
    partial: o.partial,
    cleanup: [...o.cleanup],
  });
}

/** Logs out the next participant, or finishes: LogoutResponse to the originator, or the signed-out page. */
async function continueLogout(
  s: Services,
  res: Response,
  logoutId: string,
  state: LogoutState,
): Promise<void> {
  const now = s.clock.now();
  for (;;) {
    const next = state.queue.shift();
    if (next === undefined) break;
    // A party given no NameID cannot be named in a LogoutRequest (SAML Core §3.7.1); it was never in the chain.
    const nameId = next.nameId;
    if (nameId === undefined) continue;
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
    await s.store.put('logoutState', LOGOUT(logoutId), state);
    deliver(
      s,
      res,
      sloMessage(
        s,
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
              nameId,
              nameIdFormat: next.nameIdFormat,
              sessionIndex: next.sessionIndex,
            },
            signed ? s.signing : undefined,
          ),
        logoutId,
      ),
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
    s,
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
  else deliver(s, res, answer);
}

/** A participant's LogoutResponse: checked against the LogoutRequest we sent it, then the chain goes on. */
export async function handleLogoutResponse(
  s: Services,
  req: Request,
  res: Response,
  m: Inbound,
): Promise<void> {
  const logoutId = m.relayState ?? '';
  if (!HANDLE.test(logoutId)) throw samlError('LogoutResponse without our RelayState');
  // The issuer names whose keys to check; every field used below is read from the verified message. A party
  // with a signing key in its metadata must sign its LogoutResponse (AD FS requires signed logout messages):
  // an unsigned Success could be made by whoever holds the browser, who sees our LogoutRequest's ID, and would
  // report another party's logout as done. The check runs before the pending logout is used up, so a forged
  // answer cannot end the chain for the real one.
  const { saml } = samlTrust(s, readLogoutResponse(m.doc).issuer);
  const v = verified(s, req, m, saml, saml.metadata.signingCertificates.length > 0);
  const lr = readLogoutResponse(v.doc);
  const state = await s.store.consume<LogoutState>('logoutState', LOGOUT(logoutId));
  if (state?.awaiting === undefined)
    throw new FederationError('session_expired', 'The sign-out has expired.');
  if (lr.issuer !== state.awaiting.rp || lr.inResponseTo !== state.awaiting.requestId)
    throw samlError('LogoutResponse does not answer our LogoutRequest');
  if (lr.status !== STATUS.success) state.partial = true;
  state.awaiting = undefined;
  await continueLogout(s, res, logoutId, state);
}
