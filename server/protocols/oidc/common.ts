/**
 * The names and small helpers every part of fedgate's OpenID Connect side shares (issue 19): the mount, the grant
 * type URIs, AD FS's key ids and public keys, the issuer, and how a user becomes an oidc-provider account id.
 */
import { X509Certificate } from 'node:crypto';
import type { ResourceServer } from 'oidc-provider';
import { errors } from './library.ts';
import type { SigningCredential } from '../../keys/types.ts';
import type { Services } from '../../services.ts';

export const OIDC_MOUNT = '/adfs';
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** AD FS's key id: the certificate's SHA-1 thumbprint, base64url (the same value as x5t). */
export function keyIdOf(cred: Pick<SigningCredential, 'thumbprintSha1'>): string {
  return Buffer.from(cred.thumbprintSha1, 'hex').toString('base64url');
}

/** The public JWK AD FS publishes for a token-signing certificate: kid = x5t = thumbprint, with x5c. */
export function publicJwk(cred: SigningCredential): Record<string, unknown> {
  const jwk = new X509Certificate(cred.certificatePem).publicKey.export({ format: 'jwk' });
  const kid = keyIdOf(cred);
  return {
    kty: jwk.kty,
    use: 'sig',
    alg: 'RS256',
    kid,
    x5t: kid,
    n: jwk.n,
    e: jwk.e,
    x5c: [cred.certificateBase64],
  };
}

/** The issuer: AD FS's `https://<host>/adfs`. */
export function oidcIssuer(s: Services): string {
  return `${s.config.publicUrl}${OIDC_MOUNT}`;
}

/** The account id oidc-provider carries for a user: the objectGUID, base64url (a bare identifier, no PII). */
export function accountIdOf(objectGuid: Buffer | string): string {
  return (typeof objectGuid === 'string' ? Buffer.from(objectGuid, 'base64') : objectGuid).toString(
    'base64url',
  );
}

/**
 * What a Web API is to oidc-provider (RFC 8707 resource server): the scopes this client was granted there, the
 * audience, the lifetime, a JWT access token. `invalid_target` for an unknown resource, for the userinfo resource
 * (no JWT access token for it), and for a client without a permission there.
 */
export function resourceServerInfo(
  s: Services,
  resource: string,
  clientId: string,
): ResourceServer {
  const apps = s.applications;
  const api = apps.webApi(resource);
  const c = apps.client(clientId);
  if (api === undefined || c === undefined || api === apps.userinfo)
    throw new errors.InvalidTarget();
  const scopes = apps.grantedScopes(c, api);
  if (scopes === undefined)
    throw new errors.InvalidTarget(
      `the client has no permission for the resource ${api.identifiers[0] ?? ''}`,
    );
  return {
    scope: scopes.join(' '),
    audience: api.identifiers[0] ?? resource,
    accessTokenTTL: Math.max(60, Math.round(api.rp.tokenLifetimeMinutes * 60)),
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}
