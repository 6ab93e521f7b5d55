/**
 * The grants AD FS has that oidc-provider leaves to its host (issue 19):
 * - the resource-owner password grant (RFC 6749 §4.3; scripts): through the same credential step as forms and
 *   WS-Trust (banned ranges, the per-source spray budget, extranet smart lockout before any bind, the audit lines),
 *   the Web API's MFA policy (a password grant cannot do a second factor: refused, as WS-Trust refuses), and its
 *   authorization and issuance rules. Off unless the client allows it (RFC 9700 §2.4).
 * - on-behalf-of (RFC 7523 jwt-bearer with requested_token_use=on_behalf_of, AD FS's OBO): a Web API that received
 *   a user's access token (its `assertion`) asks for a token to another Web API. The middle tier is a server
 *   application whose client_id is the identifier of the Web API the assertion was issued to; the assertion must
 *   carry user_impersonation, and is verified with the published token-signing keys.
 */
import type { Request, Response } from 'express';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { errors } from './library.ts';
import { authenticateWithPassword } from '../../authn/password.ts';
import { decideMfa, hasRuleSources } from '../../authn/mfa/policy.ts';
import { AuthMethods } from '../../claims/types.ts';
import type { DirectoryUser } from '../../directory/types.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import { OIDC_SCOPES, USERINFO_RESOURCE, type WebApi } from '../../trust/applications.ts';
import { issuanceClaims, requestContextOf } from '../issuance/request-context.ts';
import { jwtClaims } from './claims.ts';
import { noteUser } from './events.ts';
import { keepGrantClaims, tokenAccount } from './grant-claims.ts';
import { accountIdOf, JWT_BEARER_GRANT, publicJwk, resourceServerInfo } from './common.ts';

const TOKEN_PATH = '/adfs/oauth2/token/';

function expressOf(ctx: KoaContextWithOIDC): { req: Request; res: Response } {
  return { req: ctx.req as unknown as Request, res: ctx.res as unknown as Response };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** The scope parameter's names. */
function scopesOf(ctx: KoaContextWithOIDC): string[] {
  return str(ctx.oidc.params?.['scope'])
    .split(' ')
    .filter((x) => x !== '');
}

/** The Web API a token request is for: its `resource` (after scope rewriting), else the userinfo resource. */
function targetOf(s: Services, ctx: KoaContextWithOIDC): { api: WebApi; resource: string } {
  const resource = str(ctx.oidc.params?.['resource']) || USERINFO_RESOURCE;
  const api = s.applications.webApi(resource);
  if (api === undefined) throw new errors.InvalidTarget();
  return { api, resource };
}

/** Runs the Web API's rules for a user the grant authenticated; the rules' deny is invalid_grant (audited). */
async function rulesFor(
  s: Services,
  ctx: KoaContextWithOIDC,
  api: WebApi,
  user: DirectoryUser,
  method: string,
  instant: Date,
): Promise<Record<string, string | string[]>> {
  const { req, res } = expressOf(ctx);
  let outcome;
  try {
    outcome = await issuanceClaims(s, req, res, {
      protocol: 'oidc',
      rp: api.rp,
      auth: { user, method, instant },
      endpointPath: TOKEN_PATH,
      active: true,
    });
  } catch (err) {
    if (err instanceof FederationError && err.code === 'directory_unavailable')
      throw new errors.TemporarilyUnavailable('the directory is not available');
    if (err instanceof FederationError) throw new errors.InvalidGrant(err.message);
    throw err;
  }
  if (!outcome.permitted)
    throw new errors.InvalidGrant('the authorization rules of the resource denied access');
  return jwtClaims(outcome.claims);
}

/** The tokens of a grant this server made itself (password, on-behalf-of), the way oidc-provider's grants do. */
async function issueFor(
  s: Services,
  provider: Provider,
  ctx: KoaContextWithOIDC,
  o: {
    user: DirectoryUser;
    api: WebApi;
    resource: string;
    scopes: string[];
    claims: Record<string, string | string[]>;
    method: string;
    instant: Date;
    gty: string;
    refresh: boolean;
  },
): Promise<void> {
  const client = ctx.oidc.client;
  if (client === undefined) throw new errors.InvalidClient();
  const c = s.applications.client(client.clientId);
  if (c === undefined) throw new errors.InvalidClient();
  const accountId = accountIdOf(o.user.objectGuid);
  ctx.oidc.entity('Account', { accountId, claims: () => ({ sub: accountId }) });
  noteUser(ctx, o.user.userPrincipalName);
  const grant = new provider.Grant({ accountId, clientId: client.clientId });
  const oidcScopes = o.scopes.filter((x) => OIDC_SCOPES.includes(x));
  if (oidcScopes.length > 0) grant.addOIDCScope(oidcScopes.join(' '));
  const granted = s.applications.grantedScopes(c, o.api) ?? [];
  const apiScopes = o.scopes.includes('.default')
    ? [...granted]
    : o.scopes.filter((x) => granted.includes(x) && !OIDC_SCOPES.includes(x));
  const isApi = o.api !== s.applications.userinfo;
  if (isApi) grant.addResourceScope(o.resource, apiScopes.join(' '));
  const grantId = await grant.save();
  const amr = ['pwd'];
  await keepGrantClaims(
    s,
    grantId,
    o.resource,
    { claims: o.claims, authMethod: o.method, authInstant: o.instant.toISOString(), amr },
    s.config.oauth.refreshTokenLifetimeHours * 3600,
  );
  const at = new provider.AccessToken({
    accountId,
    client,
    grantId,
    gty: o.gty,
  });
  if (isApi) {
    // oidc-provider resolves resources for its own grants only; a registered grant resolves its own.
    const rs =
      ctx.oidc.resourceServers?.[o.resource] ??
      new provider.ResourceServer(o.resource, resourceServerInfo(s, o.resource, client.clientId));
    at.resourceServer = rs;
    at.aud = rs.audience ?? o.resource;
    at.scope = apiScopes.filter((x) => rs.scopes.has(x)).join(' ');
  } else {
    at.scope = oidcScopes.join(' ');
  }
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();
  const scope = [...oidcScopes, ...(isApi ? [at.scope ?? ''] : [])]
    .filter((x) => x !== '')
    .join(' ');
  let refreshToken: string | undefined;
  if (
    o.refresh &&
    client.grantTypeAllowed('refresh_token') &&
    (!isApi || o.api.issueRefreshTokens)
  ) {
    const rt = new provider.RefreshToken({
      accountId,
      client,
      grantId,
      gty: o.gty,
      scope,
      rotations: 0,
      authTime: Math.floor(o.instant.getTime() / 1000),
      amr,
      ...(isApi ? { resource: o.resource } : {}),
    });
    refreshToken = await rt.save();
  }
  let idToken: string | undefined;
  if (oidcScopes.includes('openid')) {
    const token = new provider.IdToken(
      {
        sub: accountId,
        upn: o.user.userPrincipalName,
        unique_name: o.user.windowsAccountName,
        auth_time: Math.floor(o.instant.getTime() / 1000),
        amr,
        ...(oidcScopes.includes('allatclaims') ? o.claims : {}),
      },
      { ctx },
    );
    (token as unknown as { scope: string }).scope = oidcScopes.join(' ');
    idToken = await token.issue({ use: 'idtoken' });
  }
  ctx.body = {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: at.expiration,
    scope,
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    ...(idToken === undefined ? {} : { id_token: idToken }),
  };
}

export function registerGrants(s: Services, provider: Provider): void {
  provider.registerGrantType(
    'password',
    async (ctx) => {
      const client = ctx.oidc.client;
      const c = s.applications.client(client.clientId);
      if (c?.allowPasswordGrant !== true)
        throw new errors.UnauthorizedClient('the password grant is not allowed for this client');
      const { api, resource } = targetOf(s, ctx);
      const username = str(ctx.oidc.params['username']);
      const password = str(ctx.oidc.params['password']);
      // An empty password never reaches the directory (an empty simple bind is anonymous).
      if (username === '' || password === '' || username.length > 256 || password.length > 1024)
        throw new errors.InvalidGrant('invalid username or password');
      const { req, res } = expressOf(ctx);
      const result = await authenticateWithPassword(s, {
        username,
        password,
        clientIp: req.ip ?? '',
        forwardedIps: req.ips.length > 0 ? req.ips : undefined,
        activityId: res.locals.activityId,
        relyingParty: api.rp.identifier,
        method: 'oauth-password',
      });
      if (!result.ok) {
        if (result.kind === 'unavailable')
          throw new errors.TemporarilyUnavailable('the directory is not available');
        // One answer for every credential failure (corpus C2.1); the audit line has the reason.
        throw new errors.InvalidGrant('invalid username or password');
      }
      const now = s.clock.now();
      const sets = s.mfaPolicies.setsFor(api.rp);
      if (hasRuleSources(sets)) {
        const decision = await decideMfa({
          engine: s.claims,
          sets,
          auth: { user: result.user, method: AuthMethods.password, instant: now },
          request: requestContextOf(req, TOKEN_PATH, {
            active: true,
            corporateNetworks: s.config.corporateNetworks,
          }),
        });
        // A password grant cannot ask for a second factor (AD FS refuses it too, as for WS-Trust).
        if (decision.required)
          throw new errors.InvalidGrant('this resource requires multi-factor authentication');
      }
      const claims = await rulesFor(s, ctx, api, result.user, AuthMethods.password, now);
      await issueFor(s, provider, ctx, {
        user: result.user,
        api,
        resource,
        scopes: scopesOf(ctx),
        claims,
        method: AuthMethods.password,
        instant: now,
        gty: 'password',
        refresh: true,
      });
    },
    ['username', 'password', 'scope', 'resource'],
  );

  provider.registerGrantType(
    JWT_BEARER_GRANT,
    async (ctx) => {
      const client = ctx.oidc.client;
      if (str(ctx.oidc.params['requested_token_use']) !== 'on_behalf_of')
        throw new errors.InvalidRequest('requested_token_use must be on_behalf_of');
      const middle = s.applications.webApi(client.clientId);
      if (middle === undefined)
        throw new errors.UnauthorizedClient(
          'on-behalf-of needs a server application whose client_id is its Web API identifier',
        );
      const assertion = str(ctx.oidc.params['assertion']);
      if (assertion === '' || assertion.length > 16_384)
        throw new errors.InvalidGrant('assertion missing or too long');
      const keys = createLocalJWKSet({ keys: s.keys.published().map(publicJwk) });
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(assertion, keys, {
          issuer: s.config.issuerUri,
          audience: [...middle.identifiers],
          algorithms: ['RS256'],
          currentDate: s.clock.now(),
          clockTolerance: 60,
        }));
      } catch {
        throw new errors.InvalidGrant('the assertion is not a valid access token for this client');
      }
      const scp = typeof payload['scp'] === 'string' ? payload['scp'].split(' ') : [];
      if (!scp.includes('user_impersonation'))
        throw new errors.InvalidGrant('the assertion lacks the user_impersonation scope');
      const who = await tokenAccount(s, typeof payload['jti'] === 'string' ? payload['jti'] : '');
      if (who === undefined) throw new errors.InvalidGrant('the assertion is unknown or expired');
      const user = await s.directory.findByObjectGuid(Buffer.from(who.accountId, 'base64url'));
      if (user?.enabled !== true) throw new errors.InvalidGrant('the user is not allowed');
      const { api, resource } = targetOf(s, ctx);
      if (api === s.applications.userinfo) throw new errors.InvalidTarget();
      const instant = new Date(who.authInstant);
      const claims = await rulesFor(s, ctx, api, user, who.authMethod, instant);
      await issueFor(s, provider, ctx, {
        user,
        api,
        resource,
        scopes: scopesOf(ctx),
        claims,
        method: who.authMethod,
        instant,
        gty: JWT_BEARER_GRANT,
        refresh: false,
      });
    },
    ['assertion', 'requested_token_use', 'scope', 'resource'],
  );
}
