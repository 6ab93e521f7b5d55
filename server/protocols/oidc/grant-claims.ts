/**
 * The claims a Web API's rules issued for one grant, kept from the browser sign-in (or the password grant) until the
 * grant's access tokens are made. The rules run once, where the user authenticated: the request claims
 * (x-ms-client-ip, insidecorporatenetwork, the endpoint) are the user's, not the back channel's, as AD FS evaluates
 * them at the authorization request. A refresh gets the same claims for the grant's life, as an AD FS refresh
 * token carries them.
 */
import { createHash } from 'node:crypto';
import type { Services } from '../../services.ts';
import { normaliseResource } from '../../trust/applications.ts';

export interface GrantClaims {
  /** The access token's claims (AD FS short names, from the Web API's issuance rules). */
  claims: Record<string, string | string[]>;
  /** How the user authenticated (AD FS authmethod URI), and when (ISO 8601). */
  authMethod: string;
  authInstant: string;
  /** The AD FS amr values (authnmethodsreferences), for the ID token's amr. */
  amr: string[];
}

function key(grantId: string, resource: string): string {
  const h = createHash('sha256').update(normaliseResource(resource)).digest('base64url');
  return `${grantId.slice(0, 128)}:${h}`;
}

export async function keepGrantClaims(
  s: Services,
  grantId: string,
  resource: string,
  value: GrantClaims,
  ttlSeconds: number,
): Promise<void> {
  await s.store.put('oidcClaims', key(grantId, resource), value, ttlSeconds);
}

export async function grantClaims(
  s: Services,
  grantId: string | undefined,
  resource: string,
): Promise<GrantClaims | undefined> {
  if (grantId === undefined || grantId.length > 512) return undefined;
  return s.store.find<GrantClaims>('oidcClaims', key(grantId, resource));
}

/** Who a JWT access token was issued to, kept by its `jti` for its lifetime (on-behalf-of reads it). */
export interface TokenAccount {
  accountId: string;
  grantId: string;
  authMethod: string;
  authInstant: string;
}

export async function keepTokenAccount(
  s: Services,
  jti: string,
  value: TokenAccount,
  ttlSeconds: number,
): Promise<void> {
  await s.store.put(
    'oidcClaims',
    `at:${createHash('sha256').update(jti).digest('base64url')}`,
    value,
    ttlSeconds,
  );
}

export async function tokenAccount(s: Services, jti: string): Promise<TokenAccount | undefined> {
  if (jti === '' || jti.length > 256) return undefined;
  return s.store.find<TokenAccount>(
    'oidcClaims',
    `at:${createHash('sha256').update(jti).digest('base64url')}`,
  );
}
