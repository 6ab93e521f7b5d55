/**
 * Where oidc-provider meets express (issue 19). The provider is built for the current primary signing key and
 * rebuilt when a rollover promotes another (its state is in the store, so nothing is lost). Only the OAuth paths
 * reach it; /adfs/discovery/keys is answered here with every published key (primary, next, previous), as AD FS
 * publishes its token-signing certificates, while oidc-provider holds only the one that signs.
 *
 * AD FS 2019 accepts a Web API's scopes written `<resource>/<scope>` (one resource per request) and ADAL's
 * `resource` parameter; oidc-provider speaks RFC 8707 (`resource` plus plain scope names), so such scopes are
 * rewritten before the provider reads the request. `<resource>/.default` asks for every scope the client was
 * granted there (the Microsoft identity platform's convention, which MSAL sends for client credentials).
 */
import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type Provider from 'oidc-provider';
import { ROUTES } from '../../http/routes.ts';
import { route } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import type { ApplicationRegistry } from '../../trust/applications.ts';
import { interactionStart } from './interaction.ts';
import { DEVICE_CODE_GRANT, OIDC_MOUNT, publicJwk } from './common.ts';
import { oidcCallback } from './instance.ts';

/** Paths under /adfs that oidc-provider serves (lower case, without the mount). */
const PROVIDER_PATHS = [
  /^\/\.well-known\/openid-configuration$/,
  /^\/oauth2\/(authorize|token|devicecode|deviceauth|logout|revoke|introspect)(\/.*)?$/,
  /^\/userinfo$/,
];

function servedByProvider(path: string): boolean {
  const p = path.toLowerCase().replace(/(.)\/$/, '$1');
  return PROVIDER_PATHS.some((r) => r.test(p));
}

/**
 * `<resource>/<scope>` scope tokens → `resource` + `<scope>` (AD FS 2019 / MSAL style). Returns the new parameters,
 * or undefined when nothing needed rewriting. Only a Web API's own identifier counts as a prefix, longest first;
 * a request that names two resources is left as it is and oidc-provider refuses it.
 */
export function rewriteScopes(
  apps: ApplicationRegistry,
  params: URLSearchParams,
): URLSearchParams | undefined {
  const scope = params.get('scope');
  if (scope === null || !scope.includes('/') || scope.length > 4096) return undefined;
  const ids = apps.webApis.flatMap((a) => a.identifiers).sort((a, b) => b.length - a.length);
  let resource = params.get('resource') ?? undefined;
  const out: string[] = [];
  for (const token of scope.split(' ')) {
    const id = ids.find((i) =>
      token.toLowerCase().startsWith(`${i.toLowerCase().replace(/\/$/, '')}/`),
    );
    if (id === undefined) {
      out.push(token);
      continue;
    }
    if (
      resource !== undefined &&
      resource.toLowerCase().replace(/\/$/, '') !== id.toLowerCase().replace(/\/$/, '')
    )
      return undefined;
    resource = id;
    out.push(token.slice(id.replace(/\/$/, '').length + 1));
  }
  if (resource === undefined) return undefined;
  const next = new URLSearchParams(params);
  next.set('scope', out.filter((x) => x !== '').join(' '));
  next.set('resource', resource);
  return next;
}

const formBody = express.urlencoded({ extended: false, limit: '56kb', parameterLimit: 100 });

/** The client a token request names: client_id in the body, HTTP Basic, or a client assertion's issuer. */
function requestingClient(req: Request, params: URLSearchParams): string | undefined {
  const id = params.get('client_id');
  if (id !== null) return id;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^basic /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) {
      try {
        return decodeURIComponent(decoded.slice(0, i).replace(/\+/g, ' '));
      } catch {
        return undefined;
      }
    }
  }
  const assertion = params.get('client_assertion');
  if (assertion !== null && assertion.length < 16_384) {
    try {
      const payload = JSON.parse(
        Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8'),
      ) as { iss?: unknown };
      return typeof payload.iss === 'string' ? payload.iss : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * `<resource>/.default` (after rewriting, `.default` with `resource`): every scope the client was granted at that
 * Web API. Only widens to what the permissions already allow; oidc-provider still authenticates the client and
 * checks the resource. An unknown client or resource leaves the request as it is (and it fails there).
 */
function expandDefault(s: Services, req: Request, params: URLSearchParams): void {
  const scope = params.get('scope');
  if (scope === null || !scope.split(' ').includes('.default')) return;
  const clientId = requestingClient(req, params);
  const client = clientId === undefined ? undefined : s.applications.client(clientId);
  const api = s.applications.webApi(params.get('resource') ?? '');
  const granted =
    client === undefined || api === undefined
      ? undefined
      : s.applications.grantedScopes(client, api);
  if (granted === undefined) return;
  const out = scope.split(' ').flatMap((x) => (x === '.default' ? [...granted] : [x]));
  params.set('scope', [...new Set(out)].join(' '));
}

function dropScope(params: URLSearchParams, name: string): void {
  const scope = params.get('scope');
  if (scope === null) return;
  params.set(
    'scope',
    scope
      .split(' ')
      .filter((x) => x !== name && x !== '')
      .join(' '),
  );
}

/**
 * RFC 8628 §3.5: a device that polls the token endpoint faster than the interval it was given gets `slow_down`
 * (oidc-provider leaves this to its host). One second of tolerance, so a client that waits exactly the interval is
 * never refused for the network's jitter. Keyed by a hash of the device code, farm-wide through the store.
 */
async function pollingTooFast(
  s: Services,
  body: Record<string, unknown> | undefined,
): Promise<boolean> {
  if (body?.['grant_type'] !== DEVICE_CODE_GRANT) return false;
  const code = body['device_code'];
  if (typeof code !== 'string' || code === '' || code.length > 512) return false;
  const window = Math.max(1, s.config.oauth.deviceCodePollIntervalSeconds - 1);
  const key = `poll:${createHash('sha256').update(code).digest('base64url')}`;
  return !(await s.store.markSeen('oidcClaims', key, window));
}

export function oidcRouter(s: Services): Router {
  const r = express.Router();
  // AD FS's JWKS: every published token-signing certificate, kid = x5t = its thumbprint.
  r.get(ROUTES.oidcKeys, (_req, res) => {
    const keys = s.keys.published().map(publicJwk);
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.json({ keys });
  });
  // The interactions' parent path names no sign-in (oidc-provider sends the browser to a path below it).
  r.all(ROUTES.oauthInteraction, () => {
    throw new FederationError(
      'bad_request',
      'This address expects a sign-in request from an application. Start from the application you want to use.',
    );
  });
  r.get(
    `${ROUTES.oauthInteraction}/:uid`,
    route((req, res) => interactionStart(s, req, res)),
  );
  r.use(OIDC_MOUNT, (req: Request, res: Response, next: NextFunction) => {
    if (!servedByProvider(req.path)) {
      next();
      return;
    }
    handle(s, req, res).catch(next);
  });
  return r;
}

async function handle(s: Services, req: Request, res: Response): Promise<void> {
  let callback: ReturnType<Provider['callback']>;
  try {
    callback = oidcCallback(s);
  } catch (err) {
    if (err instanceof FederationError) throw err;
    throw new FederationError('signing_unavailable', 'This service cannot sign tokens right now.', {
      detail: String(err),
    });
  }
  // oidc-provider (Koa) reads the client's scheme and host from X-Forwarded-*; they are set here from express's own
  // decision (trusted proxies only, app.ts), never passed through from the client.
  req.headers['x-forwarded-proto'] = req.protocol;
  req.headers['x-forwarded-host'] = new URL(s.config.publicUrl).host;
  req.headers['x-forwarded-for'] = req.ip ?? '';
  const q = req.url.indexOf('?');
  if (q !== -1) {
    const params = new URLSearchParams(req.url.slice(q + 1));
    const next = rewriteScopes(s.applications, params);
    if (next !== undefined) {
      expandDefault(s, req, next);
      req.url = `${req.url.slice(0, q)}?${next.toString()}`;
    }
  }
  if (
    req.method === 'POST' &&
    req.is('application/x-www-form-urlencoded') === 'application/x-www-form-urlencoded'
  ) {
    await new Promise<void>((ok, fail) => {
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- express's own req
      formBody(req, res, (err?: unknown) => {
        if (err === undefined) ok();
        else fail(err instanceof Error ? err : new Error('the form body could not be read'));
      });
    });
    const body = req.body as Record<string, unknown> | undefined;
    if (await pollingTooFast(s, body)) {
      res.status(400).setHeader('Cache-Control', 'no-store');
      res.json({
        error: 'slow_down',
        error_description: `poll at most every ${String(s.config.oauth.deviceCodePollIntervalSeconds)} seconds`,
      });
      return;
    }
    if (body !== undefined && typeof body['scope'] === 'string') {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(body)) if (typeof v === 'string') params.set(k, v);
      const next = rewriteScopes(s.applications, params) ?? params;
      expandDefault(s, req, next);
      // A refresh asks for the grant's scopes again; MSAL adds offline_access, which is not a scope of the access
      // token (OIDC Core §11: it asked for the refresh token itself) and would make oidc-provider refuse the refresh.
      if (next.get('grant_type') === 'refresh_token') dropScope(next, 'offline_access');
      req.body = Object.fromEntries(next.entries());
    }
  }
  await (callback as unknown as (req: Request, res: Response) => Promise<void>)(req, res);
}
