/**
 * oidc-provider's interactions handed to fedgate's browser sign-in (issue 19): an authorization request that
 * oidc-provider has validated (client, redirect URI, PKCE, scopes, resource) comes to
 * /adfs/oauth2/interaction/<uid>, enters the pipeline as an `oidc` pending sign-in whose party is the Web API, and
 * goes through the same steps as WS-Fed and SAML (SSO session, password or certificate, lockout, MFA policy). The
 * issue step runs the Web API's rules (authorization, then issuance), keeps the claims for the grant's tokens,
 * records the grant and the login on the interaction, and sends the browser back to oidc-provider, which answers
 * the client at its redirect URI.
 */
import type { Request, Response } from 'express';
import type { Services } from '../../services.ts';
import { USERINFO_RESOURCE } from '../../trust/applications.ts';
import { beginSignIn } from '../browser/identify.ts';
import { cleanHint, expired } from '../browser/pending.ts';
import { oidcProvider } from './instance.ts';

function oneParam(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

/** GET /adfs/oauth2/interaction/<uid>: the sign-in for an authorization oidc-provider is waiting on. */
export async function interactionStart(s: Services, req: Request, res: Response): Promise<void> {
  const provider = oidcProvider(s);
  let details: Awaited<ReturnType<typeof provider.interactionDetails>>;
  try {
    // Checks the interaction cookie oidc-provider set on this browser: another browser cannot take a uid over.
    details = await provider.interactionDetails(req, res);
  } catch {
    throw expired();
  }
  const params = details.params as Record<string, unknown>;
  const clientId = oneParam(params['client_id']) ?? '';
  const client = s.applications.client(clientId);
  if (client === undefined) throw expired();
  const resource = oneParam(params['resource']) ?? USERINFO_RESOURCE;
  const api = s.applications.webApi(resource);
  if (api === undefined) throw expired();
  const prompt = (oneParam(params['prompt']) ?? '').split(' ');
  const maxAge = oneParam(params['max_age']);
  const scopes = (oneParam(params['scope']) ?? '')
    .split(' ')
    .filter((x) => x !== '')
    .slice(0, 64);
  await beginSignIn(s, req, res, {
    request: {
      protocol: 'oidc',
      uid: details.uid,
      clientId,
      resource,
      scopes,
      ...(details.prompt.name === 'login' && 'deviceCode' in details ? { device: true } : {}),
    },
    rp: api.rp,
    // prompt=login and max_age=0 ask for credentials even with a live session (OIDC Core §3.1.2.1).
    force: prompt.includes('login') || maxAge === '0',
    usernameHint: cleanHint(oneParam(params['login_hint'])),
    localeHints: (oneParam(params['ui_locales']) ?? '')
      .split(' ')
      .filter((x) => x !== '')
      .slice(0, 8),
  });
}
