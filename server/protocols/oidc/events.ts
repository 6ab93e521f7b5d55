/**
 * What fedgate adds around oidc-provider's requests (issue 19):
 * - every token the token endpoint issues gets the same `token_issued` audit line as WS-Fed, SAML and WS-Trust
 *   (AD FS 1200; corpus C7.3: a token seen at a party without a matching line stands out): grant type, client,
 *   resource, user, the access token's jti and lifetime;
 * - an outage behind a request (the directory or the store not answering: FederationError with status 503) is
 *   answered as a deliberate 503 `temporarily_unavailable`, never as oidc-provider's generic 500 `server_error`;
 *   anything else unexpected is logged with the activity id and still answers without internals.
 */
import type { Request, Response } from 'express';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { FederationError } from '../../lib/errors.ts';
import * as audit from '../../observability/audit.ts';
import { OIDC_MOUNT } from './common.ts';
import type { Services } from '../../services.ts';

const FAILURE = Symbol('fedgate.oidc.failure');
const UPN = Symbol('fedgate.oidc.upn');

/** Remembers the UPN of the account a token request is about, for its audit line. */
export function noteUser(ctx: KoaContextWithOIDC, upn: string | undefined): void {
  (ctx.state as Record<symbol, unknown>)[UPN] = upn;
}

function expressOf(ctx: KoaContextWithOIDC): { req: Request; res: Response } {
  return { req: ctx.req as unknown as Request, res: ctx.res as unknown as Response };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function watchProvider(s: Services, provider: Provider): void {
  provider.on('grant.success', (ctx) => {
    try {
      auditGrant(s, ctx);
    } catch (err) {
      // An audit line that cannot be written never turns an issued token into a failed request.
      s.log.error({ err }, 'token_issued audit line failed');
    }
  });
  watchErrors(s, provider);
}

function auditGrant(s: Services, ctx: KoaContextWithOIDC): void {
  const e = ctx.oidc.entities;
  const at = e.AccessToken ?? e.ClientCredentials;
  if (at === undefined) return;
  const { req, res } = expressOf(ctx);
  const user = e.Account?.accountId;
  const guid = user === undefined ? '' : Buffer.from(user, 'base64url').toString('base64');
  const aud = at.aud;
  audit.tokenIssued(s.audit, {
    protocol: 'oidc',
    assertionId: at.jti,
    rp: (typeof aud === 'string' ? aud : Array.isArray(aud) ? aud[0] : undefined) ?? 'userinfo',
    upn: str((ctx.state as Record<symbol, unknown>)[UPN]),
    objectGuid: guid,
    method: str(ctx.oidc.params?.['grant_type']) ?? 'unknown',
    claims: { rulesFired: { acceptance: null, authorization: 0, issuance: null } },
    ip: req.ip,
    activityId: res.locals.activityId,
    notOnOrAfter: new Date(s.clock.now().getTime() + at.expiration * 1000).toISOString(),
    clientApplication: ctx.oidc.client?.clientId,
    tokenType: 'jwt',
  });
}

function watchErrors(s: Services, provider: Provider): void {
  provider.on('server_error', (ctx, err) => {
    (ctx.state as Record<symbol, unknown>)[FAILURE] = err;
    const { res } = expressOf(ctx);
    const outage = err instanceof FederationError && err.status === 503;
    if (outage)
      s.log.warn({ activityId: res.locals.activityId, code: err.code }, 'oauth request: outage');
    else s.log.error({ err, activityId: res.locals.activityId }, 'oauth request failed');
  });
  provider.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      // oidc-provider 9: a device-code form posted without a session (expired, or never had one) is answered with
      // a fresh form whose new xsrf it then fails to save ("persist can only be called on previously persisted
      // Sessions"). The user gets the code page afresh instead of a 500.
      const route = (ctx as { oidc?: { route?: string } }).oidc?.route;
      if (err instanceof TypeError && route === 'code_verification') {
        ctx.status = 303;
        ctx.redirect(`${OIDC_MOUNT}/oauth2/deviceauth`);
        return;
      }
      throw err;
    }
    const err = (ctx.state as Record<symbol, unknown>)[FAILURE];
    if (ctx.status === 500 && err instanceof FederationError && err.status === 503) {
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      if (ctx.type === 'application/json' || typeof ctx.body === 'object')
        ctx.body = {
          error: 'temporarily_unavailable',
          error_description: 'the service is temporarily unavailable, try again later',
        };
    }
  });
}
