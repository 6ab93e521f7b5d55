/**
 * The browser's SSO session as the sign-in pipeline sees it: the live one (re-checked against the directory), and a
 * fresh one after a primary authentication (a new id every time: no fixation, corpus A18).
 */
import type { Request, Response } from 'express';
import type { CertificateContext } from '../../authn/certificate/context.ts';
import type { MfaDone, SsoSession } from '../../authn/session.ts';
import type { DirectoryUser } from '../../directory/types.ts';
import { clearCookie, readCookie, setCookie, SSO_COOKIE } from '../../http/cookies.ts';
import type { Services } from '../../services.ts';
import * as audit from '../../observability/audit.ts';

export function sessionCookieMaxAge(s: Services, session: SsoSession): number {
  return Math.max(
    1,
    Math.floor((new Date(session.expiresAt).getTime() - s.clock.now().getTime()) / 1000),
  );
}

/**
 * The browser's live SSO session and its account, re-read from the directory: a user disabled or deleted since
 * signing in gets no further tokens (the session is ended).
 */
export async function currentSession(
  s: Services,
  req: Request,
  res: Response,
): Promise<{ session: SsoSession; user: DirectoryUser } | undefined> {
  const session = await s.sessions.find(readCookie(req, SSO_COOKIE));
  if (session === undefined) return undefined;
  const user = await s.directory.findByObjectGuid(Buffer.from(session.objectGuid, 'base64'));
  if (user?.enabled === true) return { session, user };
  await s.sessions.destroy(session.id);
  clearCookie(res, SSO_COOKIE);
  audit.sessionRevoked(s.audit, {
    reason: user === undefined ? 'account_not_found' : 'account_disabled',
    activityId: res.locals.activityId,
  });
  return undefined;
}

/** How the user just proved who they are (the primary step's result). */
export interface FreshAuthentication {
  authMethod: string;
  authInstant: Date;
  certificate?: CertificateContext | undefined;
  /** A second factor verified in this sign-in (or a step-up of a live session). */
  mfa?: MfaDone | undefined;
  /** The user ticked "Keep me signed in" (issue 17). */
  persistent?: boolean | undefined;
}

/** A fresh session at every sign-in; any earlier session of this browser ends (corpus A18). */
export async function startSession(
  s: Services,
  req: Request,
  res: Response,
  user: DirectoryUser,
  auth: FreshAuthentication,
): Promise<SsoSession> {
  const ended = await s.sessions.destroy(readCookie(req, SSO_COOKIE));
  // A kept sign-in stays kept when the same account signs in again in this browser (a step-up), and only where the
  // admin offers it.
  const persistent =
    s.config.branding.signIn.keepMeSignedIn &&
    (auth.persistent === true ||
      (ended?.persistent === true && ended.objectGuid === user.objectGuid.toString('base64')));
  const session = await s.sessions.create(
    {
      objectGuid: user.objectGuid.toString('base64'),
      windowsAccountName: user.windowsAccountName,
      userPrincipalName: user.userPrincipalName,
      authMethod: auth.authMethod,
      authInstant: auth.authInstant.toISOString(),
      ...(auth.certificate === undefined ? {} : { certificate: auth.certificate }),
      ...(auth.mfa === undefined ? {} : { mfa: auth.mfa }),
      ...(persistent ? { persistent: true } : {}),
    },
    persistent ? s.config.branding.signIn.keepMeSignedInHours * 3600 : undefined,
  );
  // The same account signing in again in this browser (a step-up, wfresh=0): the parties that got a token in the
  // ended session stay known, so sign-out still reaches them. Another account's parties are not inherited.
  if (ended !== undefined && ended.objectGuid === session.objectGuid)
    await s.participants.carryOver(ended, session);
  // AD FS: without "Keep me signed in" the SSO cookie is a browser-session cookie (closing the browser ends it); a
  // kept sign-in's cookie lives as long as its session.
  setCookie(res, SSO_COOKIE, session.id, persistent ? sessionCookieMaxAge(s, session) : undefined);
  return session;
}
