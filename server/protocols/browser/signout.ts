/**
 * One session, one sign-out (issue 5 §5), whichever protocol starts it: the SSO session ends, and every party that
 * received a token in it (authn/participants.ts) is logged out — SAML 2.0 parties by LogoutRequest in turn
 * (saml2/slo.ts), WS-Fed parties by the cleanup images of the signed-out page (signed-out-page.ts).
 */
import type { Request, Response } from 'express';
import type { Participant } from '../../authn/participants.ts';
import { clearCookie, readCookie, SSO_COOKIE } from '../../http/cookies.ts';
import type { Services } from '../../services.ts';
import type { Inbound } from '../saml2/inbound.ts';
import { canLogOut, readLogoutRequest, runLogout } from '../saml2/slo.ts';
import { signOutReply } from '../wsfed/signout.ts';
import { cleanupUrls, sendSignedOut } from './signed-out-page.ts';
import * as audit from '../../observability/audit.ts';

type SamlParticipant = Extract<Participant, { protocol: 'saml2' }>;

const isSaml = (p: Participant): p is SamlParticipant => p.protocol === 'saml2';

/** WS-Fed wsignout1.0: ends the session, logs out its SAML parties, shows the cleanup, follows a registered wreply. */
export async function wsfedSignOut(
  s: Services,
  req: Request,
  res: Response,
  q: unknown,
): Promise<void> {
  const ended = await s.sessions.destroy(readCookie(req, SSO_COOKIE));
  clearCookie(res, SSO_COOKIE);
  let cleanup: string[] = [];
  if (ended !== undefined) {
    const parts = await s.participants.take(ended);
    audit.signedOut(s.audit, {
      objectGuid: ended.objectGuid,
      rps: parts.map((p) => p.rp),
      activityId: res.locals.activityId,
    });
    // WS-Fed parties get wsignoutcleanup1.0 from the signed-out page; SAML 2.0 parties of this session are logged
    // out too (IdP-initiated single logout), and that chain ends on the signed-out page with the cleanup.
    cleanup = cleanupUrls(s, parts);
    const queue = parts.filter(isSaml).filter((p) => canLogOut(s, p));
    if (queue.length > 0) {
      await runLogout(s, res, { queue, partial: false, cleanup });
      return;
    }
  }
  const target = signOutReply(s, res, q);
  if (target === undefined) sendSignedOut(s, res, { cleanup });
  else if (cleanup.length > 0)
    sendSignedOut(s, res, { cleanup, next: { kind: 'redirect', url: target } });
  else res.redirect(302, target);
}

/**
 * A SAML 2.0 LogoutRequest from a party (SP-initiated single logout): verified by saml2/slo.ts; the session ends only
 * when the request names this browser's session for that party.
 */
export async function samlLogoutRequest(
  s: Services,
  req: Request,
  res: Response,
  m: Inbound,
): Promise<void> {
  const lr = await readLogoutRequest(s, req, m);
  const rp = lr.rp.identifier;
  const session = await s.sessions.find(readCookie(req, SSO_COOKIE));
  let partial = false;
  let queue: SamlParticipant[] = [];
  let cleanup: string[] = [];
  // The answer when the logout did not end a session (issue 14 §2). SAML Core §3.7.3.2: top-level Success only
  // when the session authority "successfully terminates the principal's session with respect to itself", and
  // PartialLogout (second level) when not all participants confirmed. Neither AD FS nor the spec define a
  // Success for "no such session"; AD FS's logout state machine has a LogoutPartial outcome beside LogoutSuccess
  // (MS-SAMLPR §2.2.5.1, "all session participants might not have been logged out"). Our choice, for both "no
  // session reached us" and "the NameID/SessionIndex do not match this browser's session": top-level Responder
  // (the request was valid; we could not carry it out) with second-level PartialLogout, as java-saml, pac4j and
  // SPID read it. Some IdPs answer Success there (the SP's session is gone either way), but an SP that reads only
  // the top-level code would then tell its user that fedgate's session ended when it may live on (e.g. a browser
  // that withheld the SSO cookie on a cross-site POST): never Success for that.
  if (session === undefined) {
    // No session reached us with this request (none, already ended, or the browser withheld the cookie).
    audit.saml2LogoutNoSession(s.audit, {
      rp,
      requestId: lr.origin.requestId,
      activityId: res.locals.activityId,
    });
    partial = true;
  } else {
    const parts = await s.participants.of(session);
    // A party given no NameID cannot have sent a LogoutRequest for this session (SAML Core §3.7.1).
    const named = parts.filter(isSaml).filter((p) => p.nameId !== undefined);
    const me = named.find((p) => p.rp === rp);
    const matches =
      me !== undefined &&
      me.nameId === lr.nameId &&
      (lr.sessionIndexes.length === 0 || lr.sessionIndexes.includes(me.sessionIndex));
    if (!matches) {
      // Not this browser's session for that principal: it stays; the SP is told (SAML Core §3.7.3.2).
      audit.saml2LogoutMismatch(s.audit, {
        rp,
        requestId: lr.origin.requestId,
        activityId: res.locals.activityId,
      });
      partial = true;
    } else {
      await s.sessions.destroy(session.id);
      await s.participants.take(session);
      clearCookie(res, SSO_COOKIE);
      queue = named.filter((p) => p.rp !== rp);
      cleanup = cleanupUrls(s, parts);
      audit.signedOut(s.audit, {
        protocol: 'saml2',
        initiator: rp,
        objectGuid: session.objectGuid,
        rps: parts.map((p) => p.rp),
        activityId: res.locals.activityId,
      });
    }
  }
  await runLogout(s, res, { origin: lr.origin, queue, partial, cleanup });
}
