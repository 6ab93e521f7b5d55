import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import request from 'supertest';
import { makeTestApp } from '../helpers/app.ts';
import { parseStrict, childElements } from '../helpers/verify.ts';
import { runCli } from '../helpers/cli.ts';

// `fedgate tenant --protocol saml` (issue 5 §3): what a tenant admin runs so Microsoft Entra ID federates a domain
// over SAML 2.0 (entra-protocol.md §2, §4): PreferredAuthenticationProtocol saml, IssuerUri, PassiveSignInUri =
// fedgate's SAML SSO endpoint, SignOutUri = its SLO endpoint, the signing certificate; as the Graph PowerShell
// command and as the internalDomainFederation JSON body. Run as a real process against a real config folder, and
// checked against what the server itself publishes in its IDPSSODescriptor with the same keys.

const MD_NS = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS_NS = 'http://www.w3.org/2000/09/xmldsig#';

function configDir(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-tenant-saml-'));
  writeFileSync(join(dir, 'fedgate.yaml'), yaml);
  return dir;
}

const BASE_YAML = 'hostname: sts.corp.example.test\nlisten: { port: 443, tls: "off" }\n';

test('fedgate tenant --protocol saml prints the SAML-P Graph PowerShell command and body', () => {
  const dir = configDir(BASE_YAML);
  const r = runCli(
    ['tenant', '--domain', 'corp.example.test', '--protocol', 'saml', '--config', 'fedgate.yaml'],
    dir,
  );
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^# Federate corp\.example\.test with fedgate over SAML 2\.0/);
  assert.match(out, /New-MgDomainFederationConfiguration -DomainId 'corp\.example\.test'/);
  assert.match(out, /-PreferredAuthenticationProtocol 'saml'/);
  assert.match(out, /-IssuerUri 'http:\/\/sts\.corp\.example\.test\/adfs\/services\/trust'/);
  assert.match(out, /-PassiveSignInUri 'https:\/\/sts\.corp\.example\.test\/adfs\/ls\/'/);
  assert.match(out, /-SignOutUri 'https:\/\/sts\.corp\.example\.test\/adfs\/ls\/'/);
  assert.match(out, /-SigningCertificate \$signingCertificate/);
  assert.match(out, /-FederatedIdpMfaBehavior 'acceptIfMfaDoneByFederatedIdp'/);
  // No WS-Trust endpoints: over SAML the active endpoint would be ECP, which fedgate does not have.
  assert.doesNotMatch(out, /-ActiveSignInUri|-MetadataExchangeUri|wsFed/);
  assert.match(out, /no SAML ECP endpoint/);
  // How signed LogoutRequests from Entra get verified.
  assert.match(
    out,
    /fedgate rp add --metadata https:\/\/nexus\.microsoftonline-p\.com\/federationmetadata\/saml20\/federationmetadata\.xml/,
  );
  assert.match(out, /# Token-signing certificate: .*thumbprint [0-9A-F]{40}/i);
  // The PowerShell variable and the JSON body carry the same certificate.
  const psCert = /^\$signingCertificate = '([A-Za-z0-9+/=]+)'$/m.exec(out)?.[1];
  const body = JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)) as Record<
    string,
    string
  >;
  assert.equal(body.signingCertificate, psCert);
  assert.equal(body.preferredAuthenticationProtocol, 'saml');
  assert.match(
    out,
    /POST https:\/\/graph\.microsoft\.com\/v1\.0\/domains\/corp\.example\.test\/federationConfiguration/,
  );
});

test('fedgate tenant --protocol saml --json: the internalDomainFederation body matches the IDPSSODescriptor fedgate publishes', async () => {
  const dir = configDir(BASE_YAML);
  const r = runCli(
    [
      'tenant',
      '--domain',
      'corp.example.test',
      '--protocol',
      'saml',
      '--config',
      'fedgate.yaml',
      '--json',
    ],
    dir,
  );
  assert.equal(r.status, 0, r.stderr);
  const body = JSON.parse(r.stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(body).sort(), [
    '@odata.type',
    'displayName',
    'federatedIdpMfaBehavior',
    'issuerUri',
    'passiveSignInUri',
    'preferredAuthenticationProtocol',
    'promptLoginBehavior',
    'signOutUri',
    'signingCertificate',
  ]);
  assert.equal(body['@odata.type'], '#microsoft.graph.internalDomainFederation');
  assert.equal(body.preferredAuthenticationProtocol, 'saml');
  assert.equal(body.issuerUri, 'http://sts.corp.example.test/adfs/services/trust');
  assert.equal(body.promptLoginBehavior, 'translateToFreshPasswordAuthentication');

  // The server with the same hostname and key folder: its IDPSSODescriptor names these very endpoints and key.
  const t = await makeTestApp({
    hostname: 'sts.corp.example.test',
    listen: { port: 443, tls: 'off' },
    keys: { dir: join(dir, 'keys') },
  });
  try {
    const md = await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
    assert.equal(md.status, 200);
    const ed = parseStrict(md.text).documentElement;
    assert.equal(ed.getAttribute('entityID'), body.issuerUri);
    const [idp] = childElements(ed, MD_NS, 'IDPSSODescriptor');
    assert.ok(idp, 'IDPSSODescriptor published');
    const sso = childElements(idp, MD_NS, 'SingleSignOnService').map((e) =>
      e.getAttribute('Location'),
    );
    const slo = childElements(idp, MD_NS, 'SingleLogoutService').map((e) =>
      e.getAttribute('Location'),
    );
    assert.ok(sso.length >= 2 && sso.every((l) => l === body.passiveSignInUri), sso.join());
    assert.ok(slo.length >= 1 && slo.every((l) => l === body.signOutUri), slo.join());
    const certs = childElements(idp, MD_NS, 'KeyDescriptor').flatMap((kd) =>
      Array.from(kd.getElementsByTagNameNS(DS_NS, 'X509Certificate')).map((c) =>
        c.textContent.replace(/\s+/g, ''),
      ),
    );
    assert.ok(certs.includes(body.signingCertificate ?? ''), 'signing certificate published');
    // Our IDPSSODescriptor offers no encryption key (fedgate receives nothing encrypted).
    assert.equal(
      childElements(idp, MD_NS, 'KeyDescriptor').filter(
        (kd) => kd.getAttribute('use') !== 'signing',
      ).length,
      0,
    );
  } finally {
    await t.close();
  }
});

test('fedgate tenant --protocol saml gives each federated domain its own IssuerUri and keeps the warnings', () => {
  const dir = configDir(
    `${BASE_YAML}microsoft365:\n  federatedDomains: [corp.example.test, fabrikam.example]\n`,
  );
  const r = runCli(
    [
      'tenant',
      '--domain',
      'fabrikam.example',
      '--protocol',
      'SAML',
      '--config',
      'fedgate.yaml',
      '--json',
    ],
    dir,
  );
  assert.equal(r.status, 0, r.stderr);
  const body = JSON.parse(r.stdout) as Record<string, string>;
  assert.equal(body.issuerUri, 'http://fabrikam.example/adfs/services/trust/');
  const other = runCli(
    [
      'tenant',
      '--domain',
      'contoso.onmicrosoft.com',
      '--protocol',
      'saml',
      '--config',
      'fedgate.yaml',
    ],
    dir,
  );
  assert.equal(other.status, 0, other.stderr);
  assert.match(
    other.stdout,
    /WARNING: contoso\.onmicrosoft\.com is not in microsoft365\.federatedDomains/,
  );
  assert.match(
    other.stdout,
    /WARNING: the default \*\.onmicrosoft\.com domain cannot be federated/,
  );
});

test('fedgate tenant refuses an unknown --protocol; without --protocol it stays WS-Federation', () => {
  const dir = configDir(BASE_YAML);
  const bad = runCli(
    ['tenant', '--domain', 'corp.example.test', '--protocol', 'oidc', '--config', 'fedgate.yaml'],
    dir,
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /tenant --protocol is wsfed or saml, not "oidc"/);
  const ws = runCli(
    ['tenant', '--domain', 'corp.example.test', '--config', 'fedgate.yaml', '--json'],
    dir,
  );
  assert.equal(ws.status, 0, ws.stderr);
  assert.equal(
    (JSON.parse(ws.stdout) as Record<string, string>).preferredAuthenticationProtocol,
    'wsFed',
  );
});

// `fedgate tenant --mfa` (issue 16): federatedIdpMfaBehavior as entra-protocol.md §4.1 names its three values,
// in the Graph body and the PowerShell command, for both protocols.
const MFA_MODES = [
  ['accept', 'acceptIfMfaDoneByFederatedIdp'],
  ['enforce', 'enforceMfaByFederatedIdp'],
  ['reject', 'rejectMfaByFederatedIdp'],
] as const;

test('fedgate tenant --mfa accept|enforce|reject sets federatedIdpMfaBehavior in the Graph body (WS-Fed and SAML)', () => {
  const dir = configDir(BASE_YAML);
  for (const protocol of ['wsfed', 'saml'])
    for (const [mode, behavior] of MFA_MODES) {
      const r = runCli(
        [
          'tenant',
          '--domain',
          'corp.example.test',
          '--protocol',
          protocol,
          '--mfa',
          mode,
          '--config',
          'fedgate.yaml',
          '--json',
        ],
        dir,
      );
      assert.equal(r.status, 0, r.stderr);
      const body = JSON.parse(r.stdout) as Record<string, string>;
      assert.equal(body.federatedIdpMfaBehavior, behavior, `${protocol} --mfa ${mode}`);
    }
});

test('fedgate tenant --mfa: the PowerShell command carries the behaviour and says what it means', () => {
  const dir = configDir(BASE_YAML);
  const enforce = runCli(
    ['tenant', '--domain', 'corp.example.test', '--mfa', 'enforce', '--config', 'fedgate.yaml'],
    dir,
  );
  assert.equal(enforce.status, 0, enforce.stderr);
  assert.match(enforce.stdout, /-FederatedIdpMfaBehavior 'enforceMfaByFederatedIdp'/);
  assert.match(enforce.stdout, /# MFA \(--mfa enforce, enforceMfaByFederatedIdp\)/);
  assert.doesNotMatch(enforce.stdout, /acceptIfMfaDoneByFederatedIdp|mfa\.methods is empty/);
  const reject = runCli(
    [
      'tenant',
      '--domain',
      'corp.example.test',
      '--protocol',
      'saml',
      '--mfa',
      'REJECT',
      '--config',
      'fedgate.yaml',
    ],
    dir,
  );
  assert.equal(reject.status, 0, reject.stderr);
  assert.match(reject.stdout, /-FederatedIdpMfaBehavior 'rejectMfaByFederatedIdp'/);
  assert.match(reject.stdout, /always does its own/);
  // Without the flag: accept, as before --mfa existed, and the comment says so.
  const none = runCli(['tenant', '--domain', 'corp.example.test', '--config', 'fedgate.yaml'], dir);
  assert.equal(none.status, 0, none.stderr);
  assert.match(none.stdout, /-FederatedIdpMfaBehavior 'acceptIfMfaDoneByFederatedIdp'/);
  assert.match(none.stdout, /# MFA \(--mfa accept, acceptIfMfaDoneByFederatedIdp\)/);
});

test('fedgate tenant --mfa enforce warns when fedgate has no MFA method enabled', () => {
  const dir = configDir(`${BASE_YAML}mfa: { methods: [] }\n`);
  const r = runCli(
    ['tenant', '--domain', 'corp.example.test', '--mfa', 'enforce', '--config', 'fedgate.yaml'],
    dir,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /# WARNING: mfa\.methods is empty/);
  const accept = runCli(
    ['tenant', '--domain', 'corp.example.test', '--mfa', 'accept', '--config', 'fedgate.yaml'],
    dir,
  );
  assert.doesNotMatch(accept.stdout, /mfa\.methods is empty/);
});

test('fedgate tenant refuses an unknown --mfa value and prints nothing to federate with', () => {
  const dir = configDir(BASE_YAML);
  for (const value of ['require', '', 'acceptIfMfaDoneByFederatedIdp', 'constructor']) {
    const r = runCli(
      ['tenant', '--domain', 'corp.example.test', `--mfa=${value}`, '--config', 'fedgate.yaml'],
      dir,
    );
    assert.equal(r.status, 2, `--mfa=${value}`);
    assert.match(r.stderr, new RegExp(`tenant --mfa is accept, enforce or reject, not "${value}"`));
    assert.equal(r.stdout, '');
  }
});
