/**
 * OpenID Connect and OAuth 2.0 on AD FS's paths (issue 19), served by panva's oidc-provider (a certified OpenID
 * Provider): fedgate gives it its clients and Web APIs (trust/applications.ts), its storage (the farm's store,
 * adapter.ts), the token-signing key, the accounts (the directory), the claims (the Web API's AD FS rules, run in
 * the browser sign-in: grant-claims.ts) and the sign-in itself (interaction.ts hands it to the browser pipeline).
 *
 * Where AD FS is weaker than RFC 9700 (OAuth 2.0 Security Best Current Practice) the default is the stronger
 * behaviour and an `oauth.*` key restores AD FS's (docs/configuration.md): PKCE for every client, S256 only,
 * refresh-token rotation for public clients, no implicit flow, no password grant unless a client allows it.
 */
import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Account, ClientMetadata, Configuration } from 'oidc-provider';
import type OidcProvider from 'oidc-provider';
import { interactionPolicy, loadWarnings, Provider } from './library.ts';
import { FederationError } from '../../lib/errors.ts';
import { Msg } from '../../i18n/msg.ts';
import type { Services } from '../../services.ts';
import type { SigningCredential } from '../../keys/types.ts';
import type { OAuthClient } from '../../trust/applications.ts';
import { storeAdapter } from './adapter.ts';
import { grantClaims, keepTokenAccount } from './grant-claims.ts';
import { devicePages, logoutPage } from './pages.ts';
import { noteUser, watchProvider } from './events.ts';
import { registerGrants } from './grants.ts';
import {
  DEVICE_CODE_GRANT,
  JWT_BEARER_GRANT,
  keyIdOf,
  resourceServerInfo,
  oidcIssuer,
  OIDC_MOUNT,
} from './common.ts';

function privateJwk(cred: SigningCredential, key: KeyObject): Record<string, unknown> {
  return { ...key.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: keyIdOf(cred) };
}

function clientMetadata(s: Services, c: OAuthClient): ClientMetadata {
  const browser = c.redirectUris.length > 0;
  // The password grant is registered for every client so that grants.ts answers a client that may not use it with
  // unauthorized_client (RFC 6749 §5.2), not oidc-provider's generic "grant type not allowed".
  const grants = [DEVICE_CODE_GRANT, 'refresh_token', 'password'];
  const responseTypes: string[] = [];
  // A client without redirect URIs (a daemon, a script) has no authorization endpoint flows at all.
  if (browser) {
    grants.push('authorization_code');
    responseTypes.push('code');
  }
  if (c.kind === 'server') grants.push('client_credentials', JWT_BEARER_GRANT);
  if (browser && s.config.oauth.allowImplicit && c.kind === 'native') {
    grants.push('implicit');
    responseTypes.push('id_token', 'id_token token');
  }
  const certificates = c.jwtSigningCertificates;
  const keyAuth = certificates.length > 0 || c.jwksUri !== undefined;
  // oidc-provider holds one authentication method per client; AD FS accepts any credential a server application
  // has. With both a secret and keys, the method is the one this request presents (a client_assertion or not).
  const both = keyAuth && c.clientSecrets.length > 0;
  const asserted = both && presentsAssertion();
  const auth =
    c.kind === 'native'
      ? 'none'
      : keyAuth && (!both || asserted)
        ? 'private_key_jwt'
        : 'client_secret_post';
  return {
    client_id: c.clientId,
    client_name: c.name,
    application_type: c.kind === 'native' ? 'native' : 'web',
    redirect_uris: [...c.redirectUris],
    post_logout_redirect_uris: [...c.postLogoutRedirectUris],
    grant_types: grants,
    response_types: responseTypes,
    token_endpoint_auth_method: auth,
    ...(auth === 'client_secret_post' || c.clientSecrets.length > 0
      ? { client_secret: c.clientSecrets[0] ?? 'none' }
      : {}),
    ...(c.jwksUri !== undefined ? { jwks_uri: c.jwksUri } : {}),
    ...(certificates.length > 0 && c.jwksUri === undefined
      ? {
          jwks: { keys: clientKeys(c) },
        }
      : {}),
  } as ClientMetadata;
}

const keysOf = new WeakMap<OAuthClient, Record<string, unknown>[]>();

/**
 * A client's certificates as JWKs (kid = x5t = SHA-1 thumbprint, as AD FS and MSAL name them), made once per
 * registered client: oidc-provider asks for the client's metadata at every token request.
 */
function clientKeys(c: OAuthClient): Record<string, unknown>[] {
  let keys = keysOf.get(c);
  if (keys === undefined) {
    keys = c.jwtSigningCertificates.map((x) => {
      const jwk = x.publicKey.export({ format: 'jwk' });
      const x5t = Buffer.from(x.fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
      return { ...jwk, kid: x5t, x5t, x5c: [x.raw.toString('base64')] };
    });
    keysOf.set(c, keys);
  }
  return keys;
}

/** Whether the token request in progress authenticates with a client assertion (private_key_jwt). */
function presentsAssertion(): boolean {
  const body = (Provider.ctx as { oidc?: { body?: Record<string, unknown> } } | undefined)?.oidc
    ?.body;
  return typeof body?.['client_assertion'] === 'string';
}

/** A presented client secret against the stored hashes (fedgate keeps only SHA-256 of a secret, never the secret). */
export function secretMatches(hashes: readonly string[], presented: string): boolean {
  if (presented.length === 0 || presented.length > 512) return false;
  const h = `sha256:${createHash('sha256').update(presented, 'utf8').digest('base64url')}`;
  let ok = false;
  for (const stored of hashes) {
    const a = Buffer.from(stored);
    const b = Buffer.from(h);
    if (a.length === b.length && timingSafeEqual(a, b)) ok = true;
  }
  return ok;
}

export function buildProvider(s: Services, signing: SigningCredential): OidcProvider {
  const issuer = oidcIssuer(s);
  const o = s.config.oauth;
  const apps = () => s.applications;
  if (signing.privateKey === undefined)
    throw new FederationError(
      'signing_unavailable',
      'This service cannot sign tokens right now. Try again later.',
      {
        detail:
          'OpenID Connect needs a token-signing key in a file (keys.pkcs11 keys sign XML only)',
      },
    );
  const policy = interactionPolicy.base();
  // Every authorization goes through fedgate's browser sign-in (interaction.ts): its SSO session, MFA policy and
  // the Web API's rules decide, not oidc-provider's own session. The check asks for the sign-in unless this very
  // request has just come back from it.
  policy
    .get('login')
    ?.checks.add(
      new interactionPolicy.Check(
        'fedgate_sign_in',
        'the sign-in runs through fedgate',
        'login_required',
        (ctx) => ctx.oidc.result?.login === undefined,
      ),
      0,
    );

  const findAccount: Configuration['findAccount'] = async (ctx, id, token) => {
    if (id.length > 64) return undefined;
    const user = await s.directory.findByObjectGuid(Buffer.from(id, 'base64url'));
    // A user disabled or deleted since signing in gets no more tokens (code exchange, refresh, userinfo).
    if (user?.enabled !== true) return undefined;
    noteUser(ctx, user.userPrincipalName);
    const resource =
      token !== undefined && 'resource' in token && typeof token.resource === 'string'
        ? token.resource
        : undefined;
    const kept =
      resource === undefined
        ? undefined
        : await grantClaims(s, (token as { grantId?: string }).grantId, resource);
    const account: Account = {
      accountId: id,
      // sub: the account id (objectGUID, base64url), the same for every client. AD FS gives each client its own
      // hash, which no other server can reproduce: an application keyed on AD FS's sub re-links its users by upn or
      // objectGUID when it moves (docs/applications.md).
      claims: () => ({
        sub: id,
        upn: user.userPrincipalName,
        unique_name: user.windowsAccountName,
        name: user.displayName,
        given_name: user.givenName,
        family_name: user.surname,
        email: user.mail,
        // allatclaims (AD FS): the Web API's access-token claims in the ID token as well.
        ...(kept?.claims ?? {}),
      }),
    };
    return account;
  };

  const configuration: Configuration = {
    adapter: storeAdapter(s.store, {
      clients: (id) => {
        const c = apps().client(id);
        return c === undefined ? undefined : clientMetadata(s, c);
      },
    }),
    jwks: { keys: [privateJwk(signing, signing.privateKey)] },
    findAccount,
    claims: {
      openid: ['sub', 'upn', 'unique_name', 'sid', 'auth_time', 'amr'],
      profile: ['name', 'given_name', 'family_name'],
      email: ['email'],
      allatclaims: ['group', 'role', 'groupsid', 'primarysid', 'winaccountname', 'email', 'upn'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'allatclaims'],
    conformIdTokenClaims: false,
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256'],
      idTokenSigningAlgValues: ['RS256'],
      userinfoSigningAlgValues: ['RS256'],
    },
    responseTypes: o.allowImplicit ? ['code', 'id_token', 'id_token token'] : ['code'],
    pkce: {
      required: (_ctx, client) =>
        o.pkceRequired === 'all' ||
        (o.pkceRequired === 'public' && client.clientAuthMethod === 'none'),
    },
    routes: {
      authorization: '/oauth2/authorize',
      token: '/oauth2/token',
      device_authorization: '/oauth2/devicecode',
      code_verification: '/oauth2/deviceauth',
      userinfo: '/userinfo',
      jwks: '/discovery/keys',
      end_session: '/oauth2/logout',
      revocation: '/oauth2/revoke',
      introspection: '/oauth2/introspect',
    },
    discovery: {
      // AD FS publishes the access tokens' issuer (its federation service identifier) beside the OIDC issuer.
      access_token_issuer: s.config.issuerUri,
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `${OIDC_MOUNT}/oauth2/interaction/${interaction.uid}`,
    },
    cookies: {
      keys: [
        createHash('sha256').update('fedgate oidc cookies').update(s.verifierKey).digest('base64'),
      ],
      names: {
        session: 'fedgate_oidc_session',
        interaction: 'fedgate_oidc_interaction',
        resume: 'fedgate_oidc_resume',
      },
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        ...devicePages(s),
      },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, ...logoutPage(s) },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => (oneOf !== undefined ? oneOf[0] : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource, client) =>
          resourceServerInfo(s, resource, client.clientId),
      },
    },
    extraTokenClaims: async (ctx, token) => {
      const client = ctx.oidc.client ?? undefined;
      const c = client === undefined ? undefined : apps().client(client.clientId);
      const base = {
        appid: client?.clientId,
        apptype: c?.kind === 'native' ? 'Public' : 'Confidential',
        ver: '1.0',
        ...(token.scope === undefined ? {} : { scp: token.scope }),
      };
      if (token.kind !== 'AccessToken') return base;
      const aud = token.aud;
      const resource = typeof aud === 'string' ? aud : Array.isArray(aud) ? aud[0] : undefined;
      const kept =
        resource === undefined ? undefined : await grantClaims(s, token.grantId, resource);
      // On-behalf-of (grants.ts) finds the user of an access token it is shown by the token's jti.
      if (kept !== undefined)
        await keepTokenAccount(
          s,
          token.jti,
          {
            accountId: token.accountId,
            grantId: token.grantId,
            authMethod: kept.authMethod,
            authInstant: kept.authInstant,
          },
          Math.max(60, token.expiration),
        );
      return {
        ...(kept?.claims ?? {}),
        ...base,
        ...(kept === undefined ? {} : { authmethod: kept.authMethod, auth_time: kept.authInstant }),
      };
    },
    formats: {
      customizers: {
        jwt: (_ctx, _token, jwt) => {
          // AD FS: access tokens are issued by the federation service identifier (discovery access_token_issuer).
          jwt.payload.iss = s.config.issuerUri;
        },
      },
    },
    issueRefreshToken: (_ctx, client, code) => {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      const resource =
        'resource' in code && typeof code.resource === 'string' ? code.resource : undefined;
      const api = resource === undefined ? undefined : apps().webApi(resource);
      return api === undefined || api.issueRefreshTokens;
    },
    rotateRefreshToken: (ctx) => {
      const client = ctx.oidc.client;
      if (client === undefined) return false;
      return (
        o.rotateRefreshTokens === 'all' ||
        (o.rotateRefreshTokens === 'public' && client.clientAuthMethod === 'none')
      );
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 3600,
      AuthorizationCode: o.codeLifetimeSeconds,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 3600,
      DeviceCode: o.deviceCodeLifetimeMinutes * 60,
      IdToken: 3600,
      Interaction: 15 * 60,
      Grant: o.refreshTokenKmsiLifetimeHours * 3600,
      Session: s.config.session.lifetimeMinutes * 60,
      RefreshToken: (ctx) =>
        (ctx.oidc.session?.transient === false
          ? o.refreshTokenKmsiLifetimeHours
          : o.refreshTokenLifetimeHours) * 3600,
    },
    renderError: (ctx, out) => {
      // Never a stack trace: the OAuth error and its description only (oidc-provider's own text, no internals).
      const res = ctx.res as unknown as import('express').Response;
      ctx.type = 'html';
      ctx.body = s.views.page(res, 'error', {
        heading: new Msg('error.heading.400'),
        message: typeof out.error_description === 'string' ? out.error_description : out.error,
        activityId: res.locals.activityId,
        time: s.clock.now().toISOString(),
        code: out.error,
      });
    },
    allowOmittingSingleRegisteredRedirectUri: false,
    clockTolerance: 60,
  };
  const provider = new Provider(issuer, configuration);
  for (const w of loadWarnings) s.log.info({ library: 'oidc-provider' }, w);
  // The proxy headers are the ones app.ts writes from express's own trusted-proxy decision (mount.ts).
  provider.proxy = true;
  // Stored secrets are SHA-256 hashes (fedgate app add shows the secret once); every stored hash is tried, so a
  // client can change secrets without a gap.
  // AD FS puts the session id in every ID token (sid); oidc-provider does so only for back-channel logout clients.
  provider.Client.prototype.includeSid = () => true;
  provider.Client.prototype.compareClientSecret = function compare(
    this: { clientId: string },
    actual: string,
  ) {
    const c = apps().client(this.clientId);
    return Promise.resolve(c !== undefined && secretMatches(c.clientSecrets, actual));
  };
  watchProvider(s, provider);
  registerGrants(s, provider);
  // RFC 8628 §3.2: the device authorization response says how often to poll (mount.ts enforces it with slow_down).
  provider.use(async (ctx, next) => {
    await next();
    const route = (ctx as { oidc?: { route?: string } }).oidc?.route;
    if (
      route === 'device_authorization' &&
      ctx.status === 200 &&
      typeof ctx.body === 'object' &&
      ctx.body !== null
    )
      (ctx.body as Record<string, unknown>)['interval'] = o.deviceCodePollIntervalSeconds;
  });
  return provider;
}
