import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROUTES, routeName } from '../../../server/http/routes.ts';

/**
 * The route table: AD FS paths exactly as AD FS publishes them (clients, Entra ID and load balancers are configured
 * with these, so the table must not drift), and the lookup the request log and metrics use.
 */

test('the AD FS paths are AD FS’s own, written out here rather than read from the table', () => {
  // Written independently of server/http/routes.ts: AD FS 2016 endpoints (Endpoints node of the AD FS console,
  // FederationMetadata.xml, Microsoft's Graph internalDomainFederation docs).
  const adfs: Record<string, string> = {
    passive: '/adfs/ls',
    certificate: '/adfs/ls/certauth',
    idpInitiated: '/adfs/ls/idpinitiatedsignon',
    idpInitiatedAspx: '/adfs/ls/idpinitiatedsignon.aspx',
    updatePassword: '/adfs/portal/updatepassword',
    theme: '/adfs/portal/theme',
    probe: '/adfs/probe',
    metadata: '/FederationMetadata/2007-06/FederationMetadata.xml',
    wstrust2005: '/adfs/services/trust/2005/usernamemixed',
    wstrust13: '/adfs/services/trust/13/usernamemixed',
    mex: '/adfs/services/trust/mex',
  };
  for (const [name, path] of Object.entries(adfs))
    assert.equal((ROUTES as Record<string, string>)[name], path, name);
});

test('every path is named once, and each path looks itself up to its own name', () => {
  const paths = Object.values(ROUTES).map((p) => p.toLowerCase());
  assert.equal(new Set(paths).size, paths.length, 'two names for one path');
  for (const [name, path] of Object.entries(ROUTES)) {
    assert.match(path, /^\/[^?#\s]*[^/?#\s]$/, `${name}: absolute, no trailing slash, no query`);
    assert.equal(routeName(path), name);
  }
});

test('matching is case-insensitive and tolerates one trailing slash, like the routers', () => {
  assert.equal(routeName('/adfs/ls/'), 'passive');
  assert.equal(routeName('/ADFS/LS/'), 'passive');
  assert.equal(routeName('/adfs/LS'), 'passive');
  assert.equal(routeName('/federationmetadata/2007-06/federationmetadata.xml'), 'metadata');
  assert.equal(routeName('/adfs/ls/IdpInitiatedSignOn.aspx'), 'idpInitiatedAspx');
  assert.equal(routeName('/adfs/ls/idpinitiatedsignon/'), 'idpInitiated');
  assert.equal(routeName('/adfs/services/trust/13/UsernameMixed'), 'wstrust13');
  assert.equal(routeName('/adfs/ls//'), 'unmatched', 'one trailing slash, not two');
});

test('the query string is ignored (it is never part of the name)', () => {
  assert.equal(routeName('/adfs/ls/?wa=wsignin1.0&wtrealm=urn:x&wctx=abc'), 'passive');
  assert.equal(routeName('/adfs/ls?SAMLRequest=x/y'), 'passive');
  assert.equal(routeName('/adfs/ls/certauth/complete?x=1'), 'certificateComplete');
  assert.equal(routeName('/healthz/ready#x'), 'healthReady');
});

test('longest match: the certificate paths are not the passive endpoint below which they live', () => {
  assert.equal(routeName('/adfs/ls/certauth'), 'certificate');
  assert.equal(routeName('/adfs/ls/certauth/'), 'certificate');
  assert.equal(routeName('/adfs/ls/certauth/complete'), 'certificateComplete');
});

test('only the theme is a directory: a file below it is the theme route, a path below an endpoint is not', () => {
  assert.equal(routeName('/adfs/portal/theme/style.css'), 'theme');
  assert.equal(routeName('/adfs/portal/theme/img/logo.png'), 'theme');
  assert.equal(routeName('/adfs/portal/themes'), 'unmatched');
  assert.equal(routeName('/adfs/ls/nothing-here'), 'unmatched');
  assert.equal(routeName('/adfs/probe/x'), 'unmatched');
  assert.equal(routeName('/adfs/lsx'), 'unmatched');
  assert.equal(routeName('/adfs/ls/certauth/complete/x'), 'unmatched');
});

test('anything else is unmatched, so a metric label never carries a raw path', () => {
  for (const p of [
    '',
    '/',
    '/adfs',
    '/adfs/',
    '/x',
    '/%2e%2e/etc/passwd',
    '/metrics/x',
    '*',
    'adfs/ls',
  ])
    assert.equal(routeName(p), 'unmatched', JSON.stringify(p));
});
