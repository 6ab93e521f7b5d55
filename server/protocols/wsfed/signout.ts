/**
 * WS-Federation sign-out (MS-MWBF §3.1.5.4.5): `wa=wsignout1.0` (and `wsignoutcleanup1.0` sent to the IdP) ends
 * the browser's session; browser/signout.ts logs its parties out. This file reads where the browser may go
 * afterwards: `wreply` is followed only when it is a registered endpoint of a known trust (corpus B3.4).
 */
import type { Response } from 'express';
import { param } from '../../http/middleware.ts';
import type { Services } from '../../services.ts';
import { matchReplyUrl } from '../../trust/registry.ts';

/** Whether `wa` names a sign-out. */
export function isWsFedSignOut(wa: string | undefined): boolean {
  return wa === 'wsignout1.0' || wa === 'wsignoutcleanup1.0';
}

/** The registered address `wreply` names, or undefined (none given, or not registered: logged). */
export function signOutReply(s: Services, res: Response, q: unknown): string | undefined {
  const wreply = param(q, 'wreply', 2048);
  if (wreply === undefined || wreply === '') return undefined;
  for (const rp of s.trusts.parties) {
    const target = matchReplyUrl(rp, wreply);
    if (target !== undefined) return target;
  }
  s.log.info(
    { activityId: res.locals.activityId },
    'sign-out wreply not registered; showing the signed-out page',
  );
  return undefined;
}
