/**
 * The request half of the claims step's input (x-ms-client-ip, x-ms-forwarded-client-ip, x-ms-proxy, user agent,
 * endpoint path, x-ms-client-application), built the same way for every protocol so a claim rule sees the same
 * claims whether the sign-in came through /adfs/ls/ or a WS-Trust endpoint.
 */
import type { Request, Response } from 'express';
import { claimsAudit } from '../claims/audit.ts';
import type { ClaimsOutcome } from '../claims/engine.ts';
import type { AuthenticationContext, RequestContext } from '../claims/input-claims.ts';
import type { Services } from '../services.ts';
import type { RelyingParty } from '../trust/registry.ts';

export function requestContextOf(
  req: Request,
  endpointPath: string,
  opts: { active?: boolean } = {},
): RequestContext {
  // req.ips is non-empty only when a configured trusted proxy forwarded the request (app 'trust proxy').
  const proxied = req.ips.length > 0;
  return {
    clientIp: req.ip ?? '',
    forwardedClientIps: proxied ? req.ips : undefined,
    userAgent: req.get('user-agent'),
    endpointPath,
    proxy: proxied ? req.socket.remoteAddress : undefined,
    // Exchange Online names the client it relays (Microsoft.Exchange.ActiveSync, ...) only on active requests;
    // a browser could set the header too, so passive sign-ins never pass it on.
    clientApplication: opts.active === true ? req.get('x-ms-client-application') : undefined,
    insideCorporateNetwork: false,
  };
}

/**
 * The claims step of a token issuance, shared by every protocol: runs the relying party's rules over the signed-in
 * user and this request, and writes the access_denied audit event when the authorization rules deny. The caller
 * answers a denial in its own protocol's way (error page, SOAP fault).
 */
export async function issuanceClaims(
  s: Services,
  req: Request,
  res: Response,
  o: {
    protocol: string;
    rp: RelyingParty;
    auth: AuthenticationContext;
    endpointPath: string;
    active?: boolean;
  },
): Promise<ClaimsOutcome> {
  const outcome = await s.claims.run(
    o.rp.rules,
    o.auth,
    requestContextOf(req, o.endpointPath, { active: o.active === true }),
  );
  if (!outcome.permitted) {
    s.audit.warn(
      {
        event: 'access_denied',
        protocol: o.protocol,
        rp: o.rp.identifier,
        upn: o.auth.user.userPrincipalName,
        objectGuid: o.auth.user.objectGuid.toString('base64'),
        rule: outcome.reason,
        claims: claimsAudit(outcome),
        ip: req.ip,
        activityId: res.locals.activityId,
      },
      'access denied by issuance authorization rules',
    );
  }
  return outcome;
}
