import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { FixedClock } from '../../server/lib/clock.ts';
import { isTokenPage, signInFrom } from '../helpers/account-protection.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { readFault } from '../fixtures/wstrust/fault.ts';
import {
  buildRst,
  PASSWORD_TEXT,
  rstHeaders,
  V13,
  V2005,
  WSSE,
  wsuTime,
  type RstOptions,
  type Version,
} from '../fixtures/wstrust/rst.ts';

// Security corpus B4 (WS-Trust usernamemixed) and B1 (parse attacks, size) against both endpoints, driven
// through the real app (embedded directory: these rules all run before any credential check, which a spy
// wrapped around the real directory provider proves: no call reaches it). The identical-fault rule against
// real AD is in tests/integration/wstrust-ldap.test.ts.

const TRUST13 = '{http://docs.oasis-open.org/ws-sx/ws-trust/200512}';
const TRUST05 = '{http://schemas.xmlsoap.org/ws/2005/02/trust}';
const WSSE_Q = `{${WSSE}}`;
const NOW = new Date('2026-03-02T10:00:00.000Z');

describe('WS-Trust usernamemixed: corpus B4 and B1 negative cases', () => {
  let t: TestApp;
  const clock = new FixedClock(NOW);
  before(async () => {
    t = await makeTestApp(
      { listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] } },
      { clock },
    );
  });
  after(async () => {
    await t.close();
  });

  // Spy on the directory the app really uses (services.directory: the real embedded provider behind its
  // metrics proxy). Each call is recorded, then passed through unchanged; the app looks methods up per call,
  // so wrapping them in place sees every request. Requests in this block run one at a time.
  const directoryCalls: string[] = [];
  before(() => {
    const dir = t.services.directory as unknown as Record<string, unknown>;
    for (const name of ['authenticate', 'findUser', 'findByObjectGuid', 'queryAttributes']) {
      const real = dir[name];
      if (typeof real !== 'function') continue;
      dir[name] = (...args: unknown[]): unknown => {
        directoryCalls.push(name);
        return (real as (...a: unknown[]) => unknown).apply(t.services.directory, args);
      };
    }
  });

  const alice = (v: Version, o: Partial<RstOptions> = {}): RstOptions => ({
    version: v,
    username: 'alice@fedgate.test',
    password: 'Passw0rd!',
    now: NOW,
    ...o,
  });

  async function post(
    o: RstOptions,
    opts: { body?: string | Buffer; headers?: Record<string, string>; https?: boolean } = {},
  ): Promise<request.Response> {
    let r = request(t.app).post(o.version.path);
    const headers = opts.headers ?? rstHeaders(o);
    for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
    if (opts.https !== false) r = r.set('X-Forwarded-Proto', 'https');
    return r.send(opts.body ?? buildRst(o));
  }

  /**
   * Asserts a well-formed fault with the subcode, the activity id of the response, and nothing internal.
   * Status: 500 for every SOAP fault, as AD FS sends them (server/protocols/wstrust/fault.ts SOAP_FAULT_STATUS);
   * the transport refusals pass their own.
   */
  function assertFault(res: request.Response, subcode: string, status = 500): void {
    assert.equal(res.status, status, res.text.slice(0, 400));
    const f = readFault(res.text);
    assert.equal(f.subcode, subcode, `${f.subcode} ${f.reason}`);
    assert.ok(f.reason.length > 0);
    assert.equal(f.activityId, res.headers['x-activity-id']);
    assert.doesNotMatch(res.text, /Error:|\bat \w+ \(|node_modules|stack|xmldom|ldap/i);
  }

  function signinEvents(activityId: unknown): number {
    return t.logs.events('signin').filter((e) => e.activityId === activityId).length;
  }

  /** Fault, and the directory was never asked (the spy saw no call). */
  async function refusedBeforeDirectory(
    o: RstOptions,
    subcode: string,
    opts: Parameters<typeof post>[1] = {},
    status?: number,
  ): Promise<request.Response> {
    directoryCalls.length = 0;
    const res = await post(o, opts);
    assertFault(res, subcode, status);
    assert.deepEqual(directoryCalls, [], 'the directory was consulted');
    return res;
  }

  test('the well-formed MSAL request succeeds on both endpoints (baseline for every case below)', async () => {
    for (const v of [V13, V2005]) {
      directoryCalls.length = 0;
      const res = await post(alice(v));
      assert.equal(res.status, 200, res.text.slice(0, 400));
      // Control for the spy: an accepted request does reach the directory through it.
      assert.ok(directoryCalls.includes('authenticate'), directoryCalls.join(','));
      assert.match(res.text, /<(?:\w+:)?TokenType>urn:oasis:names:tc:SAML:1\.0:assertion</);
    }
  });

  // ---- B4.1 transport
  test('B4.1 plain HTTP is refused (no trusted proxy said TLS), before parsing', async () => {
    for (const v of [V13, V2005]) {
      await refusedBeforeDirectory(
        alice(v),
        `${v === V13 ? TRUST13 : TRUST05}InvalidRequest`,
        { https: false },
        403,
      );
    }
  });

  test('B4.1 X-Forwarded-Proto from a caller that is not a trusted proxy is ignored', async () => {
    const other = await makeTestApp(
      { listen: { port: 0, tls: 'off', trustedProxies: [] } },
      { clock },
    );
    try {
      const res = await request(other.app)
        .post(V13.path)
        .set(rstHeaders({ version: V13 }))
        .set('X-Forwarded-Proto', 'https')
        .send(buildRst(alice(V13)));
      assertFault(res, `${TRUST13}InvalidRequest`, 403);
    } finally {
      await other.close();
    }
  });

  // ---- B4.2 structure of the security header
  test('B4.2 a DTD in the envelope is refused', async () => {
    await refusedBeforeDirectory(
      alice(V13, { prolog: '<?xml version="1.0"?><!DOCTYPE s:Envelope>' }),
      `${TRUST13}InvalidRequest`,
    );
  });

  test('B4.2 two wsse:Security headers are refused', async () => {
    const o = alice(V13);
    const sec = /<wsse:Security[\s\S]*<\/wsse:Security>/.exec(buildRst(o))?.[0] ?? '';
    assert.ok(sec.length > 0);
    await refusedBeforeDirectory({ ...o, extraHeaders: sec }, `${WSSE_Q}InvalidSecurity`);
  });

  test('B4.2 two UsernameTokens in the Security header are refused', async () => {
    await refusedBeforeDirectory(
      alice(V2005, {
        extraSecurity: `<wsse:UsernameToken><wsse:Username>bob@fedgate.test</wsse:Username><wsse:Password>x</wsse:Password></wsse:UsernameToken>`,
      }),
      `${WSSE_Q}InvalidSecurity`,
    );
  });

  test('B4.2 a UsernameToken outside the Security header (in the Body, in another header) is refused', async () => {
    const smuggled = `<wsse:UsernameToken xmlns:wsse='${WSSE}'><wsse:Username>alice@fedgate.test</wsse:Username><wsse:Password>Passw0rd!</wsse:Password></wsse:UsernameToken>`;
    // Security without a token, token in the body.
    await refusedBeforeDirectory(
      alice(V13, {
        usernameToken: '',
        extraRst: smuggled,
      }),
      `${WSSE_Q}UnsupportedSecurityToken`,
    );
    // Token in both places.
    await refusedBeforeDirectory(alice(V13, { extraRst: smuggled }), `${WSSE_Q}InvalidSecurity`);
    await refusedBeforeDirectory(
      alice(V13, { extraHeaders: smuggled }),
      `${WSSE_Q}InvalidSecurity`,
    );
  });

  test('B4.2 no Security header at all is refused', async () => {
    await refusedBeforeDirectory(alice(V13, { security: '' }), `${WSSE_Q}InvalidSecurity`);
  });

  test('B4.2 a second, empty wsse:Security inside the Body is refused (the one-Security rule counts the whole message)', async () => {
    // No token in it, and the RST ignores unknown children: only the document-wide count can catch it.
    const decoy = (ns: string): string => `<wsse:Security xmlns:wsse='${ns}'></wsse:Security>`;
    for (const v of [V13, V2005])
      await refusedBeforeDirectory(alice(v, { extraRst: decoy(WSSE) }), `${WSSE_Q}InvalidSecurity`);
    // Control: the same element in another namespace at the same place is an ignored RST child.
    const ok = await post(alice(V13, { extraRst: decoy('urn:not-wsse') }));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
  });

  test('B4.2 a BinarySecurityToken or a ds:Signature next to the UsernameToken is refused', async () => {
    const cert = Buffer.from('not a certificate: the element alone must be refused').toString(
      'base64',
    );
    for (const extra of [
      `<wsse:BinarySecurityToken wsu:Id='x509' ValueType='http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3' EncodingType='http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary'>${cert}</wsse:BinarySecurityToken>`,
      `<ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'><ds:SignedInfo><ds:CanonicalizationMethod Algorithm='http://www.w3.org/2001/10/xml-exc-c14n#'/><ds:SignatureMethod Algorithm='http://www.w3.org/2001/04/xmldsig-more#rsa-sha256'/><ds:Reference URI='#_0'><ds:DigestMethod Algorithm='http://www.w3.org/2001/04/xmlenc#sha256'/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>`,
    ]) {
      for (const v of [V13, V2005])
        await refusedBeforeDirectory(
          alice(v, { extraSecurity: extra }),
          `${WSSE_Q}UnsupportedSecurityToken`,
        );
    }
    // Control: the same Security header without the extra element.
    const ok = await post(alice(V13, { extraSecurity: '' }));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
  });

  test('B4.2 a PasswordText Password with an element inside is refused, not read as its text', async () => {
    const token = (password: string): string =>
      `<wsse:UsernameToken><wsse:Username>alice@fedgate.test</wsse:Username><wsse:Password Type="${PASSWORD_TEXT}">${password}</wsse:Password></wsse:UsernameToken>`;
    // Its text nodes alone spell alice's password; the directory must never be asked with it.
    const res = await refusedBeforeDirectory(
      alice(V13, { usernameToken: token('Pass<x/>w0rd!') }),
      `${WSSE_Q}InvalidSecurity`,
    );
    assert.equal(signinEvents(res.headers['x-activity-id']), 0, 'a sign-in was attempted');
    // Control: the same token with the password as plain text signs alice in.
    directoryCalls.length = 0;
    const ok = await post(alice(V13, { usernameToken: token('Passw0rd!') }));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
    assert.ok(directoryCalls.includes('authenticate'), directoryCalls.join(','));
  });

  test('a PasswordDigest UsernameToken is refused; PasswordText with the Type attribute is accepted', async () => {
    const token = (type: string): string =>
      `<wsse:UsernameToken><wsse:Username>alice@fedgate.test</wsse:Username><wsse:Password Type="${type}">Passw0rd!</wsse:Password></wsse:UsernameToken>`;
    await refusedBeforeDirectory(
      alice(V13, {
        usernameToken: token(
          'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest',
        ),
      }),
      `${WSSE_Q}UnsupportedSecurityToken`,
    );
    const ok = await post(alice(V13, { usernameToken: token(PASSWORD_TEXT) }));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
  });

  // ---- B4.3 freshness and replay
  const ts = (created: Date, expires?: Date): string =>
    `<wsu:Timestamp><wsu:Created>${wsuTime(created)}</wsu:Created>${expires === undefined ? '' : `<wsu:Expires>${wsuTime(expires)}</wsu:Expires>`}</wsu:Timestamp>`;
  const minutes = (m: number): Date => new Date(NOW.getTime() + m * 60_000);

  test('B4.3 missing, stale, future and expired timestamps are refused', async () => {
    const expired = `${WSSE_Q}MessageExpired`;
    await refusedBeforeDirectory(alice(V13, { timestamp: '' }), expired);
    await refusedBeforeDirectory(alice(V13, { timestamp: ts(minutes(-6), minutes(4)) }), expired);
    await refusedBeforeDirectory(alice(V2005, { timestamp: ts(minutes(6), minutes(16)) }), expired);
    await refusedBeforeDirectory(
      alice(V13, { timestamp: ts(minutes(-4), minutes(-5.5)) }),
      expired,
    );
    await refusedBeforeDirectory(alice(V13, { timestamp: ts(minutes(-1), minutes(-2)) }), expired);
    await refusedBeforeDirectory(
      alice(V13, {
        timestamp: '<wsu:Timestamp><wsu:Created>yesterday</wsu:Created></wsu:Timestamp>',
      }),
      expired,
    );
    // Inside the window (4 min old, no Expires) is fine.
    const ok = await post(alice(V13, { timestamp: ts(minutes(-4)) }));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
  });

  test('B4.3 a replayed MessageID is refused (second request never reaches the directory)', async () => {
    const o = alice(V13, { messageId: 'urn:uuid:3b1c4a4e-7c55-4a51-9d1e-replay000001' });
    const first = await post(o);
    assert.equal(first.status, 200, first.text.slice(0, 300));
    await refusedBeforeDirectory(o, `${WSSE_Q}InvalidSecurity`);
    // Same MessageID to the other endpoint: the cache is shared.
    await refusedBeforeDirectory({ ...o, version: V2005 }, `${WSSE_Q}InvalidSecurity`);
  });

  test('B4.3 a replayed UsernameToken Nonce+Created is refused even with a fresh MessageID', async () => {
    const token = `<wsse:UsernameToken><wsse:Username>alice@fedgate.test</wsse:Username><wsse:Password>Passw0rd!</wsse:Password><wsse:Nonce>bm9uY2UtcmVwbGF5LTAwMQ==</wsse:Nonce><wsu:Created>${wsuTime(NOW)}</wsu:Created></wsse:UsernameToken>`;
    const first = await post(alice(V13, { usernameToken: token }));
    assert.equal(first.status, 200, first.text.slice(0, 300));
    await refusedBeforeDirectory(alice(V13, { usernameToken: token }), `${WSSE_Q}InvalidSecurity`);
  });

  // ---- B4.4 identical faults (embedded directory; the real-AD version is in wstrust-ldap.test.ts)
  test('B4.4 unknown user, wrong password, disabled and locked-out accounts get byte-identical faults', async () => {
    const bodies: string[] = [];
    for (const [username, password] of [
      ['nobody@fedgate.test', 'Passw0rd!'],
      ['bob@fedgate.test', 'wrong-password'],
      ['carol@fedgate.test', 'Passw0rd!'],
      ['mallory@fedgate.test', 'Passw0rd!'],
      ['alice@fedgate.test', ''],
    ] as const) {
      directoryCalls.length = 0;
      const res = await post({ ...alice(V13), username, password });
      assertFault(res, `${TRUST13}FailedAuthentication`);
      bodies.push(res.text.replace(String(res.headers['x-activity-id']), 'ACTIVITY'));
      if (password !== '')
        assert.equal(signinEvents(res.headers['x-activity-id']), 1, `${username} was not checked`);
      // An empty password never reaches the directory (an empty simple bind is anonymous, corpus C4.5).
      else assert.deepEqual(directoryCalls, [], 'empty password sent to the directory');
    }
    assert.equal(new Set(bodies).size, 1, bodies.join('\n'));
  });

  // ---- request shape
  test('wrong action for the endpoint, SOAPAction mismatch, RST of the other version are refused', async () => {
    await refusedBeforeDirectory(alice(V13, { action: V2005.action }), `${TRUST13}InvalidRequest`);
    await refusedBeforeDirectory(alice(V13), `${TRUST13}InvalidRequest`, {
      headers: { 'Content-Type': 'application/soap+xml; charset=utf-8', SOAPAction: V2005.action },
    });
    // A 2005 RST (with the 1.3 action, so only the body's namespace is wrong) posted to the 1.3 endpoint.
    directoryCalls.length = 0;
    const res = await request(t.app)
      .post(V13.path)
      .set(rstHeaders({ version: V13 }))
      .set('X-Forwarded-Proto', 'https')
      .send(buildRst(alice(V2005)).replace(V2005.action, V13.action));
    assertFault(res, `${TRUST13}InvalidRequest`);
    assert.deepEqual(directoryCalls, [], 'the directory was consulted');
  });

  test('unknown AppliesTo → InvalidScope; non-bearer KeyType and unknown TokenType → InvalidRequest', async () => {
    await refusedBeforeDirectory(
      alice(V13, { appliesTo: 'https://evil.example/' }),
      `${TRUST13}InvalidScope`,
    );
    await refusedBeforeDirectory(
      alice(V13, {
        rstChildren: `<wsp:AppliesTo xmlns:wsp='http://schemas.xmlsoap.org/ws/2004/09/policy'><wsa:EndpointReference><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/SymmetricKey</wst:KeyType><wst:RequestType>${V13.requestType}</wst:RequestType>`,
      }),
      `${TRUST13}InvalidRequest`,
    );
    await refusedBeforeDirectory(
      alice(V13, {
        extraRst: '<wst:TokenType>urn:ietf:params:oauth:token-type:jwt</wst:TokenType>',
      }),
      `${TRUST13}InvalidRequest`,
    );
  });

  test('an unknown header marked mustUnderstand and a non-anonymous ReplyTo are refused', async () => {
    await refusedBeforeDirectory(
      alice(V13, { extraHeaders: `<x:Thing xmlns:x='urn:x' s:mustUnderstand='1'>1</x:Thing>` }),
      `${TRUST13}InvalidRequest`,
    );
    const body = buildRst(alice(V13)).replace(
      'http://www.w3.org/2005/08/addressing/anonymous',
      'https://attacker.example/collect',
    );
    await refusedBeforeDirectory(alice(V13), `${TRUST13}InvalidRequest`, { body });
    // The same unknown header without mustUnderstand is ignored (SOAP processing model).
    const ok = await post(alice(V13, { extraHeaders: `<x:Thing xmlns:x='urn:x'>1</x:Thing>` }));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
  });

  // ---- B1 parse attacks
  const BILLION_LAUGHS =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>';

  test('B1.1/B1.2/B1.3 billion laughs, XXE and parameter entities are refused before any expansion', async () => {
    const o = alice(V13);
    const variants = [
      BILLION_LAUGHS + buildRst(o).replace('alice@fedgate.test', '&lol3;'),
      '<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
        buildRst(o).replace('alice@fedgate.test', '&xxe;'),
      '<!DOCTYPE s:Envelope [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/attacker.dtd">%remote;]>' +
        buildRst(o),
      buildRst(o).replace('<s:Body>', '<s:Body><!ENTITY x "y">'),
    ];
    for (const body of variants) {
      const res = await refusedBeforeDirectory(o, `${TRUST13}InvalidRequest`, { body });
      assert.doesNotMatch(res.text, /root:|lollol/);
    }
  });

  test('B1.8 processing instructions, comments or garbage around the root, two roots → refused', async () => {
    const o = alice(V2005);
    const rst = buildRst(o);
    for (const body of [
      `<?xml-stylesheet href="x"?>${rst}`,
      `<!-- hi -->${rst}`,
      `${rst}<!-- trailing -->`,
      `${rst}garbage`,
      `${rst}<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>`,
      rst.replace('<s:Body>', '<s:Body><?php x ?>'),
    ]) {
      await refusedBeforeDirectory(o, `${TRUST05}InvalidRequest`, { body });
    }
    // A plain XML declaration is fine.
    const ok = await post(alice(V2005, { prolog: '<?xml version="1.0" encoding="utf-8"?>\n' }));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
  });

  test('B1.9 wrong root, SOAP version not matching the content type, unbound prefixes → refused', async () => {
    const o = alice(V13);
    for (const body of [
      '<RequestSecurityToken xmlns="http://docs.oasis-open.org/ws-sx/ws-trust/200512"/>',
      buildRst({ ...o, soap: '1.1' }), // SOAP 1.1 envelope sent as application/soap+xml
      buildRst(o).replace('</s:Header>', '<zz:x>1</zz:x></s:Header>'), // unbound prefix, ignorable header
      buildRst(o).replace('</s:Header>', '<x:y xmlns:x="urn:x" zz:a="1">1</x:y></s:Header>'), // unbound attribute prefix
      'not xml at all',
      '',
    ]) {
      await refusedBeforeDirectory(o, `${TRUST13}InvalidRequest`, { body });
    }
  });

  test('B1.7 deep nesting and attribute floods are refused', async () => {
    const o = alice(V13);
    const deep = '<x:d xmlns:x="urn:x">'.repeat(40) + '</x:d>'.repeat(40);
    await refusedBeforeDirectory(o, `${TRUST13}InvalidRequest`, {
      body: buildRst(o)
        .replace('<s:Body>', `<s:Body>`)
        .replace('</s:Header>', `${deep}</s:Header>`),
    });
    const attrs = Array.from({ length: 200 }, (_, i) => `a${i}="${i}"`).join(' ');
    await refusedBeforeDirectory(o, `${TRUST13}InvalidRequest`, {
      body: buildRst(o).replace('<s:Body>', `<s:Body ${attrs}>`),
    });
  });

  test('B1.7/A16 xmldom attack shapes (duplicate attributes, namespace bomb, unterminated PI, odd end tags, 200 000 nested elements) are refused', async () => {
    const o = alice(V13);
    const rst = buildRst(o);
    const nsBomb = Array.from(
      { length: 400 },
      (_, i) => `<n${i}:e xmlns:n${i}="urn:ns:${i}" xmlns:m${i}="urn:m:${i}">`,
    );
    for (const body of [
      // Duplicate attributes (the 2026 xmldom batch used 50 000; one duplicate is already not XML).
      rst.replace('<s:Body>', '<s:Body a="1" a="2">'),
      rst.replace('<s:Body>', `<s:Body ${Array.from({ length: 500 }, () => 'a="1"').join(' ')}>`),
      // Namespace bomb: every element declares new prefixes, nested past the depth bound.
      rst.replace(
        '</s:Header>',
        `${nsBomb.join('')}${nsBomb.map((_, i) => `</n${399 - i}:e>`).join('')}</s:Header>`,
      ),
      // Unterminated processing instruction, in the prolog and inside the body.
      `<?xml version="1.0"${rst}`,
      rst.replace('<s:Body>', '<s:Body><?pi never closed'),
      // Long whitespace inside a mismatched end tag.
      rst.replace('</s:Body>', `</s:Bodyx${' '.repeat(20_000)}>`),
    ]) {
      await refusedBeforeDirectory(o, `${TRUST13}InvalidRequest`, { body });
    }
    // 200 000 nested elements: over the body limit, so refused (413) before the parser ever sees it.
    const nested = rst.replace(
      '</s:Header>',
      `${'<x:d xmlns:x="urn:x">'.repeat(200_000)}${'</x:d>'.repeat(200_000)}</s:Header>`,
    );
    await refusedBeforeDirectory(o, `${TRUST13}InvalidRequest`, { body: nested }, 413);
    // The server is still serving.
    const ok = await post(alice(V13));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
  });

  test('B1.8 mismatched or missing end tags are refused (xmldom 0.8 would silently re-nest the document)', async () => {
    const o = alice(V13);
    const rst = buildRst(o);
    assert.ok(rst.includes('</wsse:UsernameToken>') && rst.includes('</wsu:Timestamp>'));
    for (const body of [
      // The password would otherwise end up holding everything after it, and the token the rest of the header.
      rst.replace('</wsse:UsernameToken>', '</wsse:UsernameTokenX>'),
      rst.replace('</wsse:Password>', '</wsse:Passwordx>'),
      rst.replace('</wsu:Timestamp>', '</wsu:Timestampx>'),
      rst.replace('</s:Body>', '</s:Bodyx>'),
      rst.replace('</s:Envelope>', '</s:Envelop>'),
      rst.replace('</s:Envelope>', ''), // root never closed
      rst.replace('</wsse:Username>', ''), // element never closed
      rst.replace('</s:Header>', '</s:Header></x:extra>'), // end tag with nothing open to close
      rst.replace('</s:Header>', '<x:a xmlns:x="urn:x" b=">"</s:Header>'), // start tag never ended
      rst.replace('</s:Header>', '<x:a xmlns:x="urn:x" b="</s:Header>"/></s:Header>'), // '<' in a value
    ]) {
      await refusedBeforeDirectory(o, `${TRUST13}InvalidRequest`, { body });
    }
    // Well-formed variants a strict parser must still accept: whitespace before '>' in an end tag, '>' and
    // '/' inside attribute values, self-closing elements, comments and CDATA holding markup-like text.
    const ok = await post(o, {
      body: rst
        .replace('</s:Body>', `</s:Body${' '.repeat(2000)}>`)
        .replace(
          '</s:Header>',
          `<x:a xmlns:x="urn:x" b="a>b" c='/>'/><!-- </wsse:Security> --><x:b xmlns:x="urn:x"><![CDATA[</s:Envelope>]]></x:b></s:Header>`,
        ),
    });
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
  });

  test('B1.6 NUL bytes, UTF-16, invalid UTF-8 and a non-UTF-8 charset are refused', async () => {
    const o = alice(V13);
    const rst = buildRst(o);
    await refusedBeforeDirectory(o, `${TRUST13}InvalidRequest`, {
      body: rst.replace('Passw0rd!', 'Pass\u0000w0rd!'),
    });
    await refusedBeforeDirectory(o, `${TRUST13}InvalidRequest`, {
      body: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(rst, 'utf16le')]),
    });
    await refusedBeforeDirectory(o, `${TRUST13}InvalidRequest`, {
      body: Buffer.concat([
        Buffer.from(rst.slice(0, 200)),
        Buffer.from([0xc3, 0x28]),
        Buffer.from(rst.slice(200)),
      ]),
    });
    const res = await post(o, {
      headers: { 'Content-Type': 'application/soap+xml; charset=utf-16', SOAPAction: V13.action },
    });
    assertFault(res, `${TRUST13}InvalidRequest`, 415);
  });

  test('B1.5 a body over wstrust.maxRequestBytes gets 413 as a SOAP fault; the server keeps serving', async () => {
    const o = alice(V13);
    const big = buildRst(o).replace(
      '</s:Header>',
      `<x:pad xmlns:x="urn:x">${'A'.repeat(70_000)}</x:pad></s:Header>`,
    );
    directoryCalls.length = 0;
    const res = await post(o, { body: big });
    assertFault(res, `${TRUST13}InvalidRequest`, 413);
    assert.deepEqual(directoryCalls, [], 'the directory was consulted');
    const ok = await post(alice(V13));
    assert.equal(ok.status, 200);
  });

  test('other content types get 415, GET gets 405 with Allow: POST, both as SOAP faults', async () => {
    const o = alice(V2005);
    const res = await post(o, { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assertFault(res, `${TRUST05}InvalidRequest`, 415);
    const get = await request(t.app).get(V2005.path).set('X-Forwarded-Proto', 'https');
    assertFault(get, `${TRUST05}InvalidRequest`, 405);
    assert.equal(get.headers.allow, 'POST');
  });

  test('SOAP 1.1 requests get SOAP 1.1 faults (HTTP 500, faultcode/faultstring)', async () => {
    const o = alice(V13, { soap: '1.1', timestamp: '' });
    const res = await post(o);
    assert.equal(res.status, 500);
    const f = readFault(res.text);
    assert.equal(f.soap, '1.1');
    assert.equal(f.subcode, `${WSSE_Q}MessageExpired`);
    assert.equal(f.activityId, res.headers['x-activity-id']);
    assert.match(String(res.headers['content-type']), /^text\/xml/);
  });

  test('endpoints fedgate does not implement answer 404', async () => {
    for (const path of [
      '/adfs/services/trust/2005/windowstransport',
      '/adfs/services/trust/13/windowstransport',
      '/adfs/services/trust/2005/certificatemixed',
      '/adfs/services/trust/13/certificatemixed',
      '/adfs/services/trust/13/kerberosmixed',
    ]) {
      const res = await request(t.app)
        .post(path)
        .set(rstHeaders({ version: V13 }))
        .set('X-Forwarded-Proto', 'https')
        .send(buildRst(alice(V13)));
      assert.equal(res.status, 404, path);
    }
  });
});

describe('WS-Trust endpoints switched off in configuration', () => {
  test('a disabled endpoint answers 404 and the other one keeps working', async () => {
    const t = await makeTestApp(
      {
        listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
        wstrust: { endpoints: { usernamemixed13: false } },
      },
      { clock: new FixedClock(NOW) },
    );
    try {
      const o = (v: Version): RstOptions => ({
        version: v,
        username: 'alice@fedgate.test',
        password: 'Passw0rd!',
        now: NOW,
      });
      const off = await request(t.app)
        .post(V13.path)
        .set(rstHeaders(o(V13)))
        .set('X-Forwarded-Proto', 'https')
        .send(buildRst(o(V13)));
      assert.equal(off.status, 404);
      const on = await request(t.app)
        .post(V2005.path)
        .set(rstHeaders(o(V2005)))
        .set('X-Forwarded-Proto', 'https')
        .send(buildRst(o(V2005)));
      assert.equal(on.status, 200, on.text.slice(0, 300));
    } finally {
      await t.close();
    }
  });
});

// B4.4/B4.6 through the real app: WS-Trust and the passive form share one smart-lockout state per account, and an
// address the caller made up never makes a request more trusted. Embedded directory (demo users), memory store,
// a low fedgate threshold; client addresses presented by the trusted proxy (loopback) in X-Forwarded-For.
describe('WS-Trust and the passive form share smart lockout (B4.4, B4.6)', () => {
  let t: TestApp;
  const FAMILIAR = '192.0.2.10';
  const UNFAMILIAR = '198.51.100.20';
  before(async () => {
    t = await makeTestApp({
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      lockout: {
        threshold: 3,
        observationWindowMinutes: 30,
        spray: { maxFailuresPerSource: 1000, distinctAccountsAlert: 1000, windowMinutes: 10 },
      },
    });
  });
  after(async () => {
    await t.close();
  });

  async function wstrust(
    username: string,
    password: string,
    xff: string,
    extra: Record<string, string> = {},
  ): Promise<request.Response> {
    const o: RstOptions = { version: V13, username, password };
    return request(t.app)
      .post(V13.path)
      .set(rstHeaders(o))
      .set('X-Forwarded-Proto', 'https')
      .set('X-Forwarded-For', xff)
      .set(extra)
      .send(buildRst(o));
  }

  const lockedOut = (res: request.Response): boolean =>
    t.logs
      .events('extranet_lockout')
      .some((e) => e.activityId === res.headers['x-activity-id'] && e.enforced === true);

  function failedAuthentication(res: request.Response): string {
    assert.equal(res.status, 500, res.text.slice(0, 300));
    const f = readFault(res.text);
    assert.equal(f.subcode, `${TRUST13}FailedAuthentication`);
    return res.text.replace(f.activityId, 'ACTIVITY');
  }

  test('B4.4 bad passwords over the passive form and WS-Trust fill one counter; the lock then refuses both, with the same fault', async () => {
    const user = 'bob@fedgate.test';
    // Two bad passwords on the passive form, the third over WS-Trust: threshold 3 reached.
    for (let i = 0; i < 2; i++) {
      const { res } = await signInFrom(t.app, {
        username: user,
        password: 'nope-1',
        xff: UNFAMILIAR,
      });
      assert.equal(isTokenPage(res), false);
    }
    const wrong = failedAuthentication(await wstrust(user, 'nope-2', UNFAMILIAR));

    // The right password over WS-Trust is now refused without a bind, with the wrong-password fault byte for byte.
    const locked = await wstrust(user, 'Passw0rd!', UNFAMILIAR);
    assert.equal(failedAuthentication(locked), wrong);
    assert.ok(lockedOut(locked), 'no enforced extranet_lockout event for the WS-Trust attempt');
    // And on the passive form too.
    const { res: passive } = await signInFrom(t.app, {
      username: user,
      password: 'Passw0rd!',
      xff: UNFAMILIAR,
    });
    assert.equal(isTokenPage(passive), false);
    assert.ok(lockedOut(passive), 'no enforced extranet_lockout event for the passive attempt');
  });

  test('B4.6 a familiar address prepended to X-Forwarded-For or sent as X-MS-Forwarded-Client-IP does not lift the lock', async () => {
    const user = 'alice@fedgate.test';
    // The real user signs in from the office: FAMILIAR becomes a familiar location of the account.
    const first = await wstrust(user, 'Passw0rd!', FAMILIAR);
    assert.equal(first.status, 200, first.text.slice(0, 300));
    // An attacker from UNFAMILIAR locks the unfamiliar class.
    for (let i = 0; i < 3; i++) failedAuthentication(await wstrust(user, `guess-${i}`, UNFAMILIAR));

    // With the right password, claiming to come from the familiar address: still refused.
    for (const [xff, extra] of [
      [UNFAMILIAR, {}],
      [`${FAMILIAR}, ${UNFAMILIAR}`, {}], // caller-written entry left of what the trusted proxy saw
      [UNFAMILIAR, { 'X-MS-Forwarded-Client-IP': FAMILIAR }],
      [UNFAMILIAR, { 'X-MS-Client-IP': FAMILIAR }],
    ] as [string, Record<string, string>][]) {
      const res = await wstrust(user, 'Passw0rd!', xff, extra);
      failedAuthentication(res);
      assert.ok(lockedOut(res), `${xff} ${JSON.stringify(extra)} was not refused by the lockout`);
    }
    // The familiar location is unaffected (AD FS ESL: separate familiar and unfamiliar states).
    const office = await wstrust(user, 'Passw0rd!', FAMILIAR);
    assert.equal(office.status, 200, office.text.slice(0, 300));
  });
});

// B4.3 "(Redis replay cache)" and corpus E3: two instances of a farm on one real Redis share the replay caches,
// and with Redis down the endpoint fails closed (no token, the directory never asked) instead of skipping the
// replay check. Embedded directory (demo users).
describe('WS-Trust replay caches on a shared Redis (B4.3, E3)', () => {
  let redis: TestRedis;
  let a: TestApp;
  let b: TestApp;
  before(async () => {
    redis = await startRedis();
    const config = {
      listen: { port: 0, tls: 'off' as const, trustedProxies: ['loopback'] },
      store: { kind: 'redis' as const, url: redis.url },
    };
    a = await makeTestApp(config);
    b = await makeTestApp(config);
  });
  after(async () => {
    await (a as TestApp | undefined)?.close();
    await (b as TestApp | undefined)?.close();
    await (redis as TestRedis | undefined)?.stop();
  });

  const send = (t: TestApp, o: RstOptions): Promise<request.Response> =>
    request(t.app)
      .post(o.version.path)
      .set(rstHeaders(o))
      .set('X-Forwarded-Proto', 'https')
      .send(buildRst(o));

  const replayFault = (t: TestApp, res: request.Response): void => {
    assert.equal(res.status, 500, res.text.slice(0, 300));
    const f = readFault(res.text);
    assert.equal(f.subcode, `${WSSE_Q}InvalidSecurity`);
    assert.equal(
      t.logs.events('signin').filter((e) => e.activityId === f.activityId).length,
      0,
      'the directory was consulted for a replay',
    );
  };

  test('B4.3 a MessageID or a Nonce+Created accepted by one instance is a replay on the other', async () => {
    assert.equal(a.services.store.kind, 'redis');
    const base: RstOptions = {
      version: V13,
      username: 'alice@fedgate.test',
      password: 'Passw0rd!',
      messageId: `urn:uuid:${crypto.randomUUID()}`,
    };
    const first = await send(a, base);
    assert.equal(first.status, 200, first.text.slice(0, 300));
    replayFault(b, await send(b, base));
    replayFault(b, await send(b, { ...base, version: V2005 }));

    const created = wsuTime(new Date());
    const token = `<wsse:UsernameToken><wsse:Username>alice@fedgate.test</wsse:Username><wsse:Password>Passw0rd!</wsse:Password><wsse:Nonce>${Buffer.from(crypto.randomUUID()).toString('base64')}</wsse:Nonce><wsu:Created>${created}</wsu:Created></wsse:UsernameToken>`;
    const withNonce = await send(b, { ...base, messageId: undefined, usernameToken: token });
    assert.equal(withNonce.status, 200, withNonce.text.slice(0, 300));
    replayFault(a, await send(a, { ...base, messageId: undefined, usernameToken: token }));
  });

  test('E3 Redis down: a 503 Receiver fault with an activity id, no token, no directory call; Redis back: served again', async () => {
    const o = (): RstOptions => ({
      version: V13,
      username: 'alice@fedgate.test',
      password: 'Passw0rd!',
    });
    await redis.stop();
    try {
      for (const t of [a, b]) {
        const res = await send(t, o());
        assert.equal(res.status, 503, res.text.slice(0, 300));
        const f = readFault(res.text);
        assert.equal(f.code, '{http://www.w3.org/2003/05/soap-envelope}Receiver');
        assert.equal(f.subcode, `${TRUST13}RequestFailed`);
        assert.equal(f.activityId, res.headers['x-activity-id']);
        assert.doesNotMatch(res.text, /Assertion|ECONNREFUSED|redis|\bat \w+ \(/i);
        assert.equal(
          t.logs.events('signin').filter((e) => e.activityId === f.activityId).length,
          0,
          'the directory was consulted without a replay check',
        );
      }
    } finally {
      await redis.start();
    }
    // The store reconnects on its own; poll (bounded) until a request is served again.
    let ok: request.Response | undefined;
    for (let i = 0; i < 100; i++) {
      ok = await send(a, o());
      if (ok.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(ok?.status, 200, ok?.text.slice(0, 300));
  });
});
