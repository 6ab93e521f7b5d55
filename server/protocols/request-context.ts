/**
 * The request half of the claims step's input (x-ms-client-ip, x-ms-forwarded-client-ip, x-ms-proxy, user agent,
 * endpoint path, x-ms-client-application), built the same way for every protocol so a claim rule sees the same
 * claims whether the sign-in came through /adfs/ls/ or a WS-Trust endpoint.
 */
import type { Request } from 'express';
import type { RequestContext } from '../claims/input-claims.ts';

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
