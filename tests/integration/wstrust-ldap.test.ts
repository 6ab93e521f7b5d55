import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { hidden, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import {
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from '../helpers/samba.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  childElements,
  extractAssertionFromRstr,
  parseStrict,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
  type Saml11Claims,
} from '../helpers/verify.ts';
import { readFault } from '../fixtures/wstrust/fault.ts';
import {
  buildRst,
  rstHeaders,
  SOAP11,
  SOAP12,
  V13,
  V2005,
  WSA,
  type RstOptions,
  type Version,
} from '../fixtures/wstrust/rst.ts';

// Both usernamemixed endpoints against the real Samba AD DC: tokens verified by xml-crypto and xmlsec1 with the
// certificate pinned from our metadata, the response shape compared with a real AD FS response, the same
// claims as the WS-Fed flow, and byte-identical faults for every credential failure (corpus B4.4).
// Lockout budget: wstrust2 gets ONE wrong password here (the MSAL test gives it one more); no other account
// gets a wrong password.

const REAL_RSTR = fileURLToPath(
  new URL('../fixtures/real-world/adfs-rst_response.xml', import.meta.url),
);
const M365 = 'urn:federation:MicrosoftOnline';

/** Local names of the RSTR's children, in order. */
function rstrChildren(xml: string, ns: string): string[] {
  const doc = parseStrict(xml);
  const rstrs = Array.from(doc.getElementsByTagNameNS(ns, 'RequestSecurityTokenResponse'));
  assert.equal(rstrs.length, 1);
  return childElements(rstrs[0]!).map((e) => e.localName);
}

describe('WS-Trust usernamemixed against Active Directory (Samba AD DC over LDAPS)', () => {
  let env: SambaEnv;
  let t: TestApp;
  let cert: string;
  before(async () => {
    env = sambaEnv();
    t = await makeTestApp({
      directory: sambaLdapConfig(env),
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
    });
    cert = certFromMetadata(
      (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
    )[0]!;
  });
  after(async () => {
    await t.close();
  });

  async function post(o: RstOptions): Promise<request.Response> {
    return request(t.app)
      .post(o.version.path)
      .set(rstHeaders(o))
      .set('X-Forwarded-Proto', 'https')
      .send(buildRst(o));
  }

  function verified(res: request.Response): Saml11Claims {
    assert.equal(res.status, 200, res.text.slice(0, 500));
    const assertion = extractAssertionFromRstr(res.text);
    const xmlsec = verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR);
    assert.equal(xmlsec.ok, true, xmlsec.output);
    return verifySaml11WithXmlCrypto(assertion, cert);
  }

  for (const [v, soap] of [
    [V13, '1.2'],
    [V2005, '1.2'],
    [V13, '1.1'],
    [V2005, '1.1'],
  ] as [Version, '1.1' | '1.2'][]) {
    test(`${v.path} over SOAP ${soap}: AD user gets a verified SAML 1.1 token in AD FS's response shape`, async () => {
      const user = env.users.wstrust1;
      const messageId = `urn:uuid:${crypto.randomUUID()}`;
      const res = await post({
        version: v,
        soap,
        username: user.upn,
        password: user.password,
        messageId,
      });
      const claims = verified(res);
      const guid = readObjectGuidWithCli(env, 'wstrust1').toString('base64');
      assert.equal(claims.nameIdentifier, guid);
      assert.equal(claims.audience, M365);
      assert.deepEqual(claims.attributes['http://schemas.xmlsoap.org/claims/UPN'], [user.upn]);
      assert.match(
        String(res.headers['content-type']),
        soap === '1.2' ? /^application\/soap\+xml/ : /^text\/xml/,
      );

      // Envelope: SOAP version of the request, Action, RelatesTo = our MessageID, a Security Timestamp.
      const doc = parseStrict(res.text);
      const envEl = doc.documentElement;
      assert.equal(envEl.namespaceURI, soap === '1.2' ? SOAP12 : SOAP11);
      const header = childElements(envEl)[0]!;
      const hdr = childElements(header).map(
        (e) => `${e.localName}=${e.localName === 'Security' ? '' : e.textContent}`,
      );
      assert.deepEqual(hdr, [`Action=${v.responseAction}`, `RelatesTo=${messageId}`, 'Security=']);
      assert.equal(childElements(header, WSA, 'Action').length, 1);

      // Body: 1.3 → collection around one RSTR; 2005 → bare RSTR. Children in the order AD FS writes them.
      const body = childElements(envEl)[1]!;
      const [top] = childElements(body);
      assert.equal(top!.namespaceURI, v.ns);
      assert.equal(
        top!.localName,
        v === V13 ? 'RequestSecurityTokenResponseCollection' : 'RequestSecurityTokenResponse',
      );
      const order = rstrChildren(res.text, v.ns);
      if (v === V13) assert.deepEqual(order, rstrChildren(readFileSync(REAL_RSTR, 'utf8'), V13.ns));
      assert.deepEqual(order, [
        'Lifetime',
        'AppliesTo',
        'RequestedSecurityToken',
        'RequestedAttachedReference',
        'RequestedUnattachedReference',
        'TokenType',
        'RequestType',
        'KeyType',
      ]);
      const rstr = doc.getElementsByTagNameNS(v.ns, 'RequestSecurityTokenResponse')[0]!;
      const text = (name: string): string => childElements(rstr, v.ns, name)[0]!.textContent;
      assert.equal(text('TokenType'), 'urn:oasis:names:tc:SAML:1.0:assertion');
      assert.equal(text('RequestType'), v.requestType);
      assert.equal(text('KeyType'), v.keyType);
      const [created, expires] = childElements(childElements(rstr, v.ns, 'Lifetime')[0]!).map(
        (e) => e.textContent,
      );
      assert.equal(created, claims.notBefore);
      assert.equal(expires, claims.notOnOrAfter);
      const keyIds = Array.from(
        doc.getElementsByTagNameNS(
          'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
          'KeyIdentifier',
        ),
      ).map((e) => e.textContent);
      assert.deepEqual(keyIds, [claims.assertionId, claims.assertionId]);
      // MSAL compares the TokenType text raw (no whitespace, no self-closing form, \w+ prefixes).
      assert.match(
        res.text,
        /<(?:\w+:)?TokenType>urn:oasis:names:tc:SAML:1\.0:assertion<\/(?:\w+:)?TokenType>/,
      );
    });
  }

  test('the same claims as the WS-Federation flow for the same user (one claims pipeline)', async () => {
    const user = env.users.wstrust1;
    const active = verified(
      await post({ version: V13, username: user.upn, password: user.password }),
    );
    const { res } = await signIn(t.app, { username: user.upn, password: user.password });
    assert.equal(res.status, 200, res.text.slice(0, 300));
    const passive = verifySaml11WithXmlCrypto(
      extractAssertionFromRstr(hidden(res.text, 'wresult')),
      cert,
    );
    const strip = (c: Saml11Claims): Record<string, string[]> => {
      // Request-context claims differ by design (endpoint path); AD FS's M365 rules do not emit them.
      return Object.fromEntries(
        Object.entries(c.attributes).filter(([k]) => !k.includes('/requestcontext/')),
      );
    };
    assert.deepEqual(strip(active), strip(passive));
    assert.equal(active.nameIdentifier, passive.nameIdentifier);
    assert.equal(active.issuer, passive.issuer);
  });

  test('B4.4 unknown user, wrong password, disabled, locked, expired and must-change: one identical fault', async () => {
    const cases: [string, string, string][] = [
      ['unknown', `nobody-wst@${env.upnSuffix}`, 'Whatever-1!'],
      ['wrong password', env.users.wstrust2.upn, `${env.users.wstrust2.password}x`],
      ['disabled', env.users.disabled1.upn, env.users.disabled1.password],
      ['locked', env.users.locked1.upn, env.users.locked1.password],
      ['expired', env.users.expired1.upn, env.users.expired1.password],
      ['must change', env.users.mustchange1.upn, env.users.mustchange1.password],
    ];
    const bodies = new Map<string, string>();
    const kinds = new Set<unknown>();
    for (const [label, username, password] of cases) {
      const res = await post({ version: V13, username, password });
      // HTTP 500 for every one, as AD FS (server/protocols/wstrust/fault.ts SOAP_FAULT_STATUS).
      assert.equal(res.status, 500, label);
      const f = readFault(res.text);
      assert.equal(f.subcode, `{${V13.ns}}FailedAuthentication`, label);
      assert.equal(f.activityId, res.headers['x-activity-id']);
      // The activity id is a random UUID (hex): it may contain "775" or "52e" by chance, so it is left out.
      const withoutActivity = res.text.replace(f.activityId, 'ACTIVITY');
      assert.doesNotMatch(
        withoutActivity,
        /52e|533|775|532|773|LdapErr|80090308|disabled|locked|expired/i,
      );
      bodies.set(label, withoutActivity);
      // The audit log has the real reason (so the cases really differ inside).
      const ev = t.logs.events('signin').find((e) => e.activityId === f.activityId);
      assert.ok(ev !== undefined, label);
      kinds.add(ev.kind ?? ev.reason);
    }
    assert.equal(new Set(bodies.values()).size, 1, [...bodies.values()].join('\n'));
    assert.ok(kinds.size >= 4, `audit kinds: ${[...kinds].join(', ')}`);
    // The password never appears in any log line.
    assert.equal(
      t.logs.raw.some((l) => l.includes(env.users.wstrust2.password)),
      false,
    );
  });
});

// AD FS client access policy: the Microsoft 365 trust's authorization rules see x-ms-client-application, the
// header Exchange Online sets when it relays a legacy client's basic-auth sign-in over WS-Trust.
describe('WS-Trust: x-ms-client-application reaches the authorization rules (client access policy)', () => {
  let env: SambaEnv;
  let t: TestApp;
  before(async () => {
    env = sambaEnv();
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-cap-'));
    writeFileSync(
      join(dir, 'cap.rules'),
      `@RuleName = "Permit all"
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "true");

@RuleName = "Block Exchange ActiveSync"
exists([Type == "http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-application", Value == "Microsoft.Exchange.ActiveSync"])
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/deny", Value = "DenyUsersWithClaim");
`,
    );
    t = await makeTestApp({
      directory: sambaLdapConfig(env),
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      microsoft365: { authorizationRulesFile: join(dir, 'cap.rules') },
    });
  });
  after(async () => {
    await t.close();
  });

  function post(clientApplication: string | undefined): request.Test {
    const o: RstOptions = {
      version: V13,
      username: env.users.wstrust1.upn,
      password: env.users.wstrust1.password,
    };
    const r = request(t.app)
      .post(o.version.path)
      .set(rstHeaders(o))
      .set('X-Forwarded-Proto', 'https');
    if (clientApplication !== undefined) r.set('X-MS-Client-Application', clientApplication);
    return r.send(buildRst(o));
  }

  test('ActiveSync is denied with a fault and an access_denied audit naming the rule; other clients get a token', async () => {
    const denied = await post('Microsoft.Exchange.ActiveSync');
    assert.equal(denied.status, 500);
    const f = readFault(denied.text);
    assert.equal(f.subcode, `{${V13.ns}}RequestFailed`);
    assert.doesNotMatch(denied.text, /ActiveSync|Block Exchange|DenyUsersWithClaim/);
    const ev = t.logs.events('access_denied').find((e) => e.activityId === f.activityId);
    assert.ok(ev !== undefined);
    assert.equal(ev.protocol, 'wstrust');
    const claims = ev.claims as { deniedBy?: string };
    assert.match(String(claims.deniedBy), /Block Exchange ActiveSync/);

    for (const app of ['Microsoft.Exchange.Autodiscover', undefined]) {
      const ok = await post(app);
      assert.equal(ok.status, 200, ok.text.slice(0, 300));
      const issued = t.logs
        .events('token_issued')
        .find((e) => e.activityId === ok.headers['x-activity-id']);
      assert.ok(issued !== undefined);
      assert.equal(issued.clientApplication, app);
      assert.equal((issued.claims as { claimsIssued?: number }).claimsIssued! > 0, true);
    }
  });
});

// The directory down (every DC unreachable): the node cannot check a password, so the endpoint answers 503 with
// a Receiver fault (as the passive flow answers 503), never a credential fault and never the connection error.
describe('WS-Trust with every domain controller unreachable', () => {
  let env: SambaEnv;
  let t: TestApp;
  before(async () => {
    env = sambaEnv();
    t = await makeTestApp({
      directory: sambaLdapConfig(env, { urls: ['ldaps://127.0.0.1:1'], connectTimeoutMs: 500 }),
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
    });
  });
  after(async () => {
    await t.close();
  });

  test('a 503 Receiver fault with an activity id and nothing internal, for both endpoints', async () => {
    for (const v of [V13, V2005]) {
      const o: RstOptions = {
        version: v,
        username: env.users.wstrust1.upn,
        password: env.users.wstrust1.password,
      };
      const res = await request(t.app)
        .post(v.path)
        .set(rstHeaders(o))
        .set('X-Forwarded-Proto', 'https')
        .send(buildRst(o));
      assert.equal(res.status, 503, res.text.slice(0, 300));
      const f = readFault(res.text);
      assert.equal(f.code, `{${SOAP12}}Receiver`);
      assert.equal(f.subcode, `{${v.ns}}RequestFailed`);
      assert.equal(f.activityId, res.headers['x-activity-id']);
      assert.doesNotMatch(res.text, /ECONNREFUSED|127\.0\.0\.1|ldap|\bat \w+ \(/i);
    }
  });
});
