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
import { claimsAudit } from '../../claims/audit.ts';
import { FederationError } from '../../lib/errors.ts';
import * as audit from '../../observability/audit.ts';
import type { Services } from '../../services.ts';
import { OIDC_SCOPES, USERINFO_RESOURCE } from '../../trust/applications.ts';
import { beginSignIn } from '../browser/identify.ts';
import { cleanHint, expired, type ProtocolRequest, type SignedIn } from '../browser/pending.ts';
import type { Delivery } from '../browser/form-post.ts';
import { issuanceClaims } from '../issuance/request-context.ts';
import { jwtClaims } from './claims.ts';
import { keepGrantClaims } from './grant-claims.ts';
import { oidcProvider } from './mount.ts';
import { accountIdOf } from './provider.ts';

type OidcRequest = Extract<ProtocolRequest, { protocol: 'oidc' }>;

/** AD FS's amr values for fedgate's authentication methods (RFC 8176 names). */
function amrOf(method: string, mfa: boolean): string[] {
  const out = [method.endsWith('/tlsclient') || method.endsWith('/x509') ? 'sc' : 'pwd'];
  if (mfa) out.push('mfa');
  return out;
}

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

/** The issue step of an OAuth sign-in: the Web API's rules, the grant, and the way back to oidc-provider. */
export async function issueOidc(who: SignedIn, request: OidcRequest): Promise<Delivery> {
  const { s, req, res, user, session } = who;
  const provider = oidcProvider(s);
  const interaction = await provider.Interaction.find(request.uid);
  if (interaction === undefined) throw expired();
  const api = s.applications.webApi(request.resource);
  const client = s.applications.client(request.clientId);
  if (api === undefined || client === undefined) throw expired();
  const auth = {
    user,
    method: session.authMethod,
    instant: new Date(session.authInstant),
    certificate: session.certificate,
    mfa: session.mfa,
    persistent: session.persistent,
  };
  const outcome = await issuanceClaims(s, req, res, {
    protocol: 'oidc',
    rp: api.rp,
    auth,
    endpointPath: '/adfs/oauth2/authorize/',
  });
  const remaining = Math.max(1, interaction.exp - Math.floor(s.clock.now().getTime() / 1000));
  if (!outcome.permitted) {
    // RFC 6749 §4.1.2.1: the client learns access_denied at its redirect URI (the rules' decision is audited).
    interaction.result = {
      error: 'access_denied',
      error_description: 'The authorization rules of the resource denied access.',
    };
    await interaction.save(remaining);
    return { redirect: interaction.returnTo };
  }
  const accountId = accountIdOf(user.objectGuid);
  const granted = s.applications.grantedScopes(client, api) ?? [];
  const all = request.scopes.includes('.default');
  const grant =
    (interaction.grantId === undefined
      ? undefined
      : await provider.Grant.find(interaction.grantId)) ??
    new provider.Grant({ accountId, clientId: client.clientId });
  const oidcScopes = request.scopes.filter((x) => OIDC_SCOPES.includes(x));
  if (oidcScopes.length > 0) grant.addOIDCScope(oidcScopes.join(' '));
  if (api !== s.applications.userinfo) {
    const apiScopes = all ? granted : request.scopes.filter((x) => granted.includes(x));
    grant.addResourceScope(request.resource, apiScopes.join(' '));
  }
  const grantId = await grant.save();
  const claims = jwtClaims(outcome.claims);
  const mfa = session.mfa !== undefined;
  const kmsi = session.persistent === true;
  await keepGrantClaims(
    s,
    grantId,
    request.resource,
    {
      claims,
      authMethod: session.authMethod,
      authInstant: session.authInstant,
      amr: amrOf(session.authMethod, mfa),
    },
    (kmsi
      ? s.config.oauth.refreshTokenKmsiLifetimeHours
      : s.config.oauth.refreshTokenLifetimeHours) * 3600,
  );
  interaction.result = {
    login: {
      accountId,
      ts: Math.floor(new Date(session.authInstant).getTime() / 1000),
      amr: amrOf(session.authMethod, mfa),
      remember: kmsi,
    },
    consent: { grantId },
  };
  await interaction.save(remaining);
  await s.participants.remember(session, { protocol: 'oidc', rp: client.clientId });
  audit.tokenIssued(s.audit, {
    protocol: 'oidc',
    assertionId: grantId,
    rp: api.rp.identifier,
    upn: user.userPrincipalName,
    objectGuid: user.objectGuid.toString('base64'),
    method: session.authMethod,
    claims: claimsAudit(outcome),
    ip: req.ip,
    activityId: res.locals.activityId,
    notOnOrAfter: new Date(s.clock.now().getTime() + remaining * 1000).toISOString(),
    clientApplication: client.clientId,
  });
  if (typeof interaction.returnTo !== 'string')
    throw new FederationError('internal', 'An OAuth interaction has no return address.');
  return { redirect: interaction.returnTo };
}
