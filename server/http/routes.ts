/**
 * Every path fedgate serves, named once. Routers mount these paths; the request log and the HTTP metrics label each
 * request with its route name (bounded cardinality: a name from this table or 'unmatched', never the raw path).
 * The AD FS paths are AD FS's own (clients and Entra ID have them configured); matching is case-insensitive and
 * tolerates one trailing slash, like express's default (non-strict, case-insensitive) routing.
 */
export const ROUTES = {
  /** WS-Federation and SAML 2.0 browser endpoint (sign-in, sign-out, SSO, SLO). */
  passive: '/adfs/ls',
  /** Certificate authentication leg (TLS client certificate, or certificate from a trusted proxy's header). */
  certificate: '/adfs/ls/certauth',
  /** The browser's return from the certificate leg to the main host. */
  certificateComplete: '/adfs/ls/certauth/complete',
  /** The second-factor page's posts (MFA). */
  mfa: '/adfs/ls/mfa',
  /** SAML 2.0 IdP-initiated sign-on, both spellings AD FS answers to. */
  idpInitiated: '/adfs/ls/idpinitiatedsignon',
  idpInitiatedAspx: '/adfs/ls/idpinitiatedsignon.aspx',
  /** The self-service security-info page: a user's own second factors (list, add, remove, rename). */
  portal: '/adfs/portal',
  /** Password update page (expired or must-change passwords). */
  updatePassword: '/adfs/portal/updatepassword',
  /** The language picker: remembers the reader's choice and returns to the page (issue 17). */
  language: '/adfs/portal/language',
  /** Static theme files (a directory: every file below it is this route). */
  theme: '/adfs/portal/theme',
  /** Load-balancer probe, AD FS compatible. */
  probe: '/adfs/probe',
  healthLive: '/healthz/live',
  healthReady: '/healthz/ready',
  /** Prometheus metrics (management listener only). */
  metrics: '/metrics',
  /** Signed federation metadata (WS-Fed and SAML 2.0 roles in one document, as AD FS serves it). */
  metadata: '/FederationMetadata/2007-06/FederationMetadata.xml',
  /** WS-Trust active endpoints and their metadata exchange. */
  wstrust2005: '/adfs/services/trust/2005/usernamemixed',
  wstrust13: '/adfs/services/trust/13/usernamemixed',
  mex: '/adfs/services/trust/mex',
  /** OpenID Connect and OAuth 2.0 (issue 19), AD FS's paths; oidc-provider serves them (protocols/oidc/). */
  oidcDiscovery: '/adfs/.well-known/openid-configuration',
  oidcKeys: '/adfs/discovery/keys',
  oauthAuthorize: '/adfs/oauth2/authorize',
  oauthToken: '/adfs/oauth2/token',
  oauthDeviceCode: '/adfs/oauth2/devicecode',
  oauthDeviceAuth: '/adfs/oauth2/deviceauth',
  oauthUserinfo: '/adfs/userinfo',
  oauthLogout: '/adfs/oauth2/logout',
  oauthRevoke: '/adfs/oauth2/revoke',
  oauthIntrospect: '/adfs/oauth2/introspect',
  /** The OAuth authorize request's hand-over to the browser sign-in (a tree: one path per interaction). */
  oauthInteraction: '/adfs/oauth2/interaction',
  /** Reply address of the built-in test relying party (urn:fedgate:test), only when enabled in config. */
  testRpResult: '/adfs/test/result',
} as const;

export type RouteName = keyof typeof ROUTES;

/** Routes that are directories: a path below them is still the route (theme files). */
const TREES: ReadonlySet<RouteName> = new Set<RouteName>([
  'theme',
  'oauthInteraction',
  'oauthAuthorize',
  'oauthDeviceAuth',
  'oauthLogout',
]);

const ENTRIES = (Object.entries(ROUTES) as [RouteName, string][])
  .map(([name, path]) => ({ name, path: path.toLowerCase(), tree: TREES.has(name) }))
  // Longest first, so a tree never shadows a longer path below it.
  .sort((a, b) => b.path.length - a.path.length);

/**
 * The route name of a request path (query string, if any, ignored), or 'unmatched'. Exact match, case-insensitive,
 * one trailing slash tolerated; paths below a tree route (theme) match it. Longest match wins.
 */
export function routeName(path: string): RouteName | 'unmatched' {
  const q = path.search(/[?#]/);
  let p = (q === -1 ? path : path.slice(0, q)).toLowerCase();
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  for (const e of ENTRIES) {
    if (p === e.path) return e.name;
    if (e.tree && p.startsWith(`${e.path}/`)) return e.name;
  }
  return 'unmatched';
}
