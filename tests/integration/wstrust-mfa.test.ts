// WS-Trust usernamemixed cannot do MFA (issue 16): a request whose trust's MFA policy requires a second factor is
// refused with AD FS's RequestFailed fault (MSIS3127) after the password is verified, audited as mfa_required
// `refused`, and nothing is issued; the same request to a trust without MFA policy is issued (positive control).
// insidecorporatenetwork comes from corporateNetworks on the client address after trusted proxies, seen both in
// the MFA decision (extranet preset) and in the claim of a real issued token. Tokens are read with xml-crypto
// (certificate pinned from our metadata) and xmlsec1; faults with a strict parser.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { ConfigInput } from '../../server/config/schema.ts';
import { hidden, Jar, makeTestApp, type TestApp } from '../helpers/app.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
  type Saml11Claims,
} from '../helpers/verify.ts';
import { readFault } from '../fixtures/wstrust/fault.ts';
import { buildRst, rstHeaders, V13, V2005, type Version } from '../fixtures/wstrust/rst.ts';

const ALICE = { username: 'alice@fedgate.test', password: 'Passw0rd!' };
const EVERYONE = 'urn:fedgate:test:mfa-everyone';
const EXTRANET = 'urn:fedgate:test:mfa-extranet';
const PLAIN = 'urn:fedgate:test:no-mfa';
const M365 = 'urn:federation:MicrosoftOnline';
type TrustMfaConfigInput = NonNullable<NonNullable<ConfigInput['relyingParties']>[number]['mfa']>;
const INSIDE = 'http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork';

let t: TestApp;
let cert: string;
before(async () => {
  const party = (identifier: string, mfa?: TrustMfaConfigInput) => ({
    identifier,
    name: identifier,
    replyUrls: ['https://app.example/'],
    ...(mfa === undefined ? {} : { mfa }),
  });
  t = await makeTestApp({
    listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
    corporateNetworks: ['10.0.0.0/8', '2001:db8:1::/48'],
    relyingParties: [
      party(EVERYONE, { accessControlPolicies: [{ kind: 'everyone' }] }),
      party(EXTRANET, { accessControlPolicies: [{ kind: 'extranet' }] }),
      party(PLAIN),
    ],
  });
  cert = certFromMetadata(
    (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
  )[0]!;
});
after(() => t.close());

async function rst(
  appliesTo: string,
  o: { version?: Version; clientIp?: string; soap?: '1.1' | '1.2'; password?: string } = {},
): Promise<request.Response> {
  const r = { version: o.version ?? V13, ...ALICE, appliesTo, now: new Date(), soap: o.soap };
  if (o.password !== undefined) r.password = o.password;
  let req = request(t.app).post(r.version.path);
  for (const [k, v] of Object.entries(rstHeaders(r))) req = req.set(k, v);
  req = req.set('X-Forwarded-Proto', 'https');
  if (o.clientIp !== undefined) req = req.set('X-Forwarded-For', o.clientIp);
  return req.send(buildRst(r));
}

function token(res: request.Response): Saml11Claims {
  assert.equal(res.status, 200, res.text.slice(0, 400));
  const assertion = extractAssertionFromRstr(res.text);
  const xmlsec = verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR);
  assert.equal(xmlsec.ok, true, xmlsec.output);
  return verifySaml11WithXmlCrypto(assertion, cert);
}

function assertMfaRefused(res: request.Response, rp: string): void {
  assert.equal(res.status, 500, 'a SOAP fault, HTTP 500 as AD FS sends it');
  assert.doesNotMatch(res.text, /RequestedSecurityToken|Assertion/);
  const f = readFault(res.text);
  assert.equal(f.code, '{http://www.w3.org/2003/05/soap-envelope}Sender');
  assert.equal(f.subcode, `{${V13.ns}}RequestFailed`);
  assert.equal(f.reason, 'MSIS3127: The specified request failed.');
  const evs = t.logs.events('mfa_required').filter((e) => e.activityId === f.activityId);
  assert.equal(evs.length, 1);
  const ev = evs[0];
  assert.ok(ev);
  assert.equal(ev.outcome, 'refused');
  assert.equal(ev.protocol, 'wstrust');
  assert.equal(ev.rp, rp);
  assert.equal(ev.upn, ALICE.username);
  assert.match(String(ev.account), /^guid:[A-Za-z0-9+/]{22}==$/);
  assert.ok(Array.isArray(ev.reasons) && ev.reasons.length > 0);
  assert.equal(
    t.logs.events('token_issued').filter((e) => e.activityId === f.activityId).length,
    0,
    'nothing issued',
  );
}

describe('WS-Trust and MFA policy', () => {
  test('preset everyone: usernamemixed (1.3) is refused with MSIS3127 after the password, audited, nothing issued', async () => {
    const res = await rst(EVERYONE);
    assertMfaRefused(res, EVERYONE);
    const ev = t.logs.events('mfa_required').at(-1);
    assert.deepEqual(ev?.reasons, ['preset everyone rule 1 "Permit everyone and require MFA"']);
  });

  test('positive control: the same request to a trust without MFA policy is issued', async () => {
    const c = token(await rst(PLAIN));
    assert.equal(c.audience, PLAIN);
  });

  test('the 2005 endpoint and SOAP 1.1 refuse the same way', async () => {
    const res = await rst(EVERYONE, { version: V2005, soap: '1.1' });
    assert.equal(res.status, 500);
    const f = readFault(res.text);
    assert.equal(f.reason, 'MSIS3127: The specified request failed.');
    assert.doesNotMatch(res.text, /Assertion/);
    assert.equal(
      t.logs.events('mfa_required').filter((e) => e.activityId === f.activityId).length,
      1,
    );
  });

  test('a wrong password is the credential fault, not an MFA refusal (the policy runs after the password)', async () => {
    const res = await rst(EVERYONE, { password: 'wrong-password' });
    const f = readFault(res.text);
    assert.equal(f.subcode, `{${V13.ns}}FailedAuthentication`);
    assert.equal(
      t.logs.events('mfa_required').filter((e) => e.activityId === f.activityId).length,
      0,
    );
  });

  test('preset extranet: refused from outside, issued from a corporate network (client address after the trusted proxy)', async () => {
    assertMfaRefused(await rst(EXTRANET, { clientIp: '203.0.113.7' }), EXTRANET);
    assert.equal(token(await rst(EXTRANET, { clientIp: '10.20.30.40' })).audience, EXTRANET);
    assert.equal(token(await rst(EXTRANET, { clientIp: '2001:db8:1::77' })).audience, EXTRANET);
    assertMfaRefused(await rst(EXTRANET, { clientIp: '2001:db8:2::77' }), EXTRANET);
    // No X-Forwarded-For: the client is the proxy's peer (loopback), not a corporate network.
    assertMfaRefused(await rst(EXTRANET), EXTRANET);
  });
});

describe('insidecorporatenetwork in issued tokens (Microsoft 365 rules pass it through)', () => {
  const inside = async (clientIp: string | undefined): Promise<string[] | undefined> =>
    token(await rst(M365, clientIp === undefined ? {} : { clientIp })).attributes[INSIDE];

  test('true from a configured range (IPv4, IPv6, IPv4-mapped IPv6), false from elsewhere', async () => {
    assert.deepEqual(await inside('10.1.2.3'), ['true']);
    assert.deepEqual(await inside('11.1.2.3'), ['false']);
    assert.deepEqual(await inside('2001:db8:1:5::1'), ['true']);
    assert.deepEqual(await inside('2001:db8:9::1'), ['false']);
    assert.deepEqual(await inside('::ffff:10.9.8.7'), ['true']);
    assert.deepEqual(await inside('::ffff:11.9.8.7'), ['false']);
    assert.deepEqual(await inside(undefined), ['false']);
  });

  test('a browser sign-in (WS-Fed) gets it from the same client address', async () => {
    const signIn = async (ip: string): Promise<string[] | undefined> => {
      const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365 });
      const page = await request(t.app).get(`/adfs/ls/?${q.toString()}`).set('X-Forwarded-For', ip);
      const jar = new Jar();
      jar.take(page);
      const res = await request(t.app)
        .post('/adfs/ls/')
        .set('X-Forwarded-For', ip)
        .set('Cookie', jar.header())
        .type('form')
        .send({
          AuthState: hidden(page.text, 'AuthState'),
          csrf: hidden(page.text, 'csrf'),
          UserName: ALICE.username,
          Password: ALICE.password,
          AuthMethod: 'FormsAuthentication',
        });
      assert.equal(res.status, 200, res.text.slice(0, 300));
      const assertion = extractAssertionFromRstr(hidden(res.text, 'wresult'));
      return verifySaml11WithXmlCrypto(assertion, cert).attributes[INSIDE];
    };
    assert.deepEqual(await signIn('10.0.0.9'), ['true']);
    assert.deepEqual(await signIn('192.0.2.9'), ['false']);
  });
});
