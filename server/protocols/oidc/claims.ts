/**
 * Claims in JWTs the way AD FS writes them (issue 19): a claim type URI from the rules becomes AD FS's short JWT name
 * (the outbound map of .NET's JwtSecurityTokenHandler, which AD FS uses: upn, unique_name, group, role, ...), other
 * types keep their URI, and a type issued more than once becomes an array.
 */
import type { ClaimSet } from '../../claims/types.ts';

const SHORT_NAMES: Readonly<Record<string, string>> = Object.freeze({
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': 'upn',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name': 'unique_name',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress': 'email',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname': 'given_name',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname': 'family_name',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier': 'nameid',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/gender': 'gender',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/dateofbirth': 'birthdate',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/webpage': 'website',
  'http://schemas.xmlsoap.org/claims/Group': 'group',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/role': 'role',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid': 'groupsid',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/primarysid': 'primarysid',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid': 'primarygroupsid',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname': 'winaccountname',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationmethod': 'authmethod',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationinstant': 'auth_time',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/denyonlysid': 'denyonlysid',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/expiration': 'exp',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/ispersistent': 'ispersistent',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/serialnumber': 'serialnumber',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/userdata': 'userdata',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/version': 'version',
  'http://schemas.microsoft.com/claims/authnmethodsreferences': 'amr',
  'http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork': 'insidecorporatenetwork',
  'http://schemas.microsoft.com/ws/2012/01/passwordexpirationtime': 'pwd_exp',
  'http://schemas.microsoft.com/ws/2012/01/passwordchangeurl': 'pwd_url',
});

/**
 * Names the token itself sets (the protocol's own): a rule that issues one of these cannot override it (the
 * audience, issuer and times come from the request, never from a rule).
 */
const RESERVED: ReadonlySet<string> = new Set([
  'iss',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'sub',
  'nonce',
  'azp',
  'at_hash',
  'c_hash',
  'sid',
  'scope',
  'scp',
  'client_id',
  'appid',
  'apptype',
  'auth_time',
  'ver',
  'cnf',
  'acr',
]);

/** The JWT name AD FS gives a claim type. */
export function jwtClaimName(type: string): string {
  return SHORT_NAMES[type] ?? type;
}

/** A claim set as JWT claims: short names, a repeated type as an array, the token's own names left out. */
export function jwtClaims(claims: ClaimSet): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const c of claims) {
    const name = jwtClaimName(c.type);
    if (RESERVED.has(name)) continue;
    const had = out[name];
    if (had === undefined) out[name] = c.value;
    else if (Array.isArray(had)) had.push(c.value);
    else out[name] = [had, c.value];
  }
  return out;
}
