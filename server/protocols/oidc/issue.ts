/**
 * The issue step of an OAuth sign-in (the pipeline's `oidc` kind, protocols/browser/protocols.ts): the Web API's
 * rules (authorization, then issuance), the claims kept for the grant's tokens, the grant and the login recorded on
 * oidc-provider's interaction, and the way back to oidc-provider, which answers the client at its redirect URI.
 */
import { FederationError } from '../../lib/errors.ts';
import { OIDC_SCOPES } from '../../trust/applications.ts';
import { expired, type ProtocolRequest, type SignedIn } from '../browser/pending.ts';
import type { Delivery } from '../browser/form-post.ts';
import { sessionAuth } from '../issuance/issue-token.ts';
import { issuanceClaims } from '../issuance/request-context.ts';
import { jwtClaims } from './claims.ts';
import { accountIdOf } from './common.ts';
import { keepGrantClaims } from './grant-claims.ts';
import { oidcProvider } from './instance.ts';

type OidcRequest = Extract<ProtocolRequest, { protocol: 'oidc' }>;

/** AD FS's amr values for fedgate's authentication methods (RFC 8176 names). */
export function amrOf(method: string, mfa: boolean): string[] {
  const out = [method.endsWith('/tlsclient') || method.endsWith('/x509') ? 'sc' : 'pwd'];
  if (mfa) out.push('mfa');
  return out;
}

/** The issue step of an OAuth sign-in: the Web API's rules, the grant, and the way back to oidc-provider. */
export async function issueOidc(who: SignedIn, request: OidcRequest): Promise<Delivery> {
  const { s, req, res, user, session } = who;
  const provider = oidcProvider(s);
  const interaction = await provider.Interaction.find(request.uid);
  if (interaction === undefined) throw expired();
  const back = interaction.returnTo;
  if (typeof back !== 'string')
    throw new FederationError('internal', 'An OAuth interaction has no return address.');
  const api = s.applications.webApi(request.resource);
  const client = s.applications.client(request.clientId);
  if (api === undefined || client === undefined) throw expired();
  const auth = sessionAuth(user, session);
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
    return { redirect: back };
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
  const amr = amrOf(session.authMethod, session.mfa !== undefined);
  const kmsi = session.persistent === true;
  await keepGrantClaims(
    s,
    grantId,
    request.resource,
    {
      claims,
      authMethod: session.authMethod,
      authInstant: session.authInstant,
      amr,
    },
    (kmsi
      ? s.config.oauth.refreshTokenKmsiLifetimeHours
      : s.config.oauth.refreshTokenLifetimeHours) * 3600,
  );
  interaction.result = {
    login: {
      accountId,
      ts: Math.floor(new Date(session.authInstant).getTime() / 1000),
      amr,
      remember: kmsi,
    },
    consent: { grantId },
  };
  await interaction.save(remaining);
  await s.participants.remember(session, { protocol: 'oidc', rp: client.clientId });
  return { redirect: back };
}
