import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import request from 'supertest';
import { Jar, hidden } from '../helpers/app.ts';
import { parseStrict } from '../helpers/verify.ts';
import {
  ATTACKER_CERT,
  ATTACKER_KEY,
  EMAIL,
  IDP_SSO,
  PERSISTENT,
  SP_ACS,
  SP_ID,
  SP_KEY,
  SP_SLO,
  RSA_SHA1,
  RSA_SHA256,
  authnRequestXml,
  b64,
  fixture,
  getAndSignIn,
  postAndSignIn,
  postedSaml,
  samlApp,
  signEnveloped,
  uid,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';

// Corpus B1 (parsing, size, compression), B2 (signature wrapping, stripping, algorithm policy, comment
// injection) against fedgate's AuthnRequest/LogoutRequest verification, B3 (ACS, RelayState, Destination,
// replay, ForceAuthn/IsPassive, NameIDPolicy, Host header). Every refusal is a local error page with an
// activity id: no stack trace, nothing posted to the service provider, the server stays up.

const SIGNED_SP = 'https://signed-sp.fedgate.test';
const SIGNED_ACS = 'https://signed-sp.fedgate.test/acs';
/** The signed SP's second registered ACS: what the wrapping and tamper attacks below aim for (see B2). */
const SIGNED_ACS2 = 'https://signed-sp.fedgate.test/acs/second';
const authnRequest = authnRequestXml;
const signPost = signEnveloped;

function fromFixture(name: string, issuer = SP_ID): string {
  return fixture(name)
    .replaceAll('{{ID}}', uid())
    .replaceAll('{{NOW}}', new Date().toISOString())
    .replaceAll('{{ISSUER}}', issuer);
}

/** HTTP-Redirect query with an RSA signature over SAMLRequest[&RelayState]&SigAlg (SAML Bindings §3.4.4.1). */
function redirectQuery(
  xml: string,
  o: {
    key?: string;
    sigAlg?: string;
    relayState?: string;
    omit?: 'Signature' | 'SigAlg';
    unsigned?: boolean;
  } = {},
): string {
  let q = `SAMLRequest=${encodeURIComponent(deflateRawSync(xml).toString('base64'))}`;
  if (o.relayState !== undefined) q += `&RelayState=${encodeURIComponent(o.relayState)}`;
  if (o.unsigned === true) return q;
  const sigAlg = o.sigAlg ?? RSA_SHA256;
  const signedPart = `${q}&SigAlg=${encodeURIComponent(sigAlg)}`;
  const hash = sigAlg === RSA_SHA1 ? 'sha1' : 'sha256';
  const sig = createSign(hash)
    .update(signedPart)
    .sign(o.key ?? SP_KEY)
    .toString('base64');
  if (o.omit === 'SigAlg') return `${q}&Signature=${encodeURIComponent(sig)}`;
  if (o.omit === 'Signature') return signedPart;
  return `${signedPart}&Signature=${encodeURIComponent(sig)}`;
}

function assertRefused(
  res: { status: number; text: string },
  status = 400,
  message?: RegExp,
): void {
  assert.equal(res.status, status, res.text.slice(0, 300));
  assert.match(res.text, /id="activityId">[0-9a-f-]{36}</, 'error page carries the activity id');
  assert.doesNotMatch(res.text, /SAMLResponse|name="AuthState"/, 'nothing posted, no sign-in form');
  assert.doesNotMatch(res.text, /at [A-Za-z.]+ \(|node_modules|Error:/, 'no stack trace');
  if (message !== undefined) assert.match(res.text, message);
}

describe('SAML 2.0 IdP: hostile and malformed requests', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp([
      {
        file: 'sp',
        metadataXml: spMetadata(standardSp({ slo: [{ location: SP_SLO, binding: 'redirect' }] })),
        trust: { nameIdFormat: EMAIL },
      },
      {
        file: 'signed-sp',
        metadataXml: spMetadata(
          standardSp({
            entityId: SIGNED_SP,
            acs: [
              { location: SIGNED_ACS, index: 0, isDefault: true },
              { location: SIGNED_ACS2, index: 1 },
            ],
            authnRequestsSigned: true,
          }),
        ),
        trust: { nameIdFormat: EMAIL },
      },
    ]);
  });
  after(async () => {
    if (process.env.SAML2_DEBUG === '1')
      for (const l of t.logs.lines) if (l.detail !== undefined) console.log('DETAIL', l.detail);
    await t.close();
  });

  const post = (fields: Record<string, string>, jar = new Jar()): Promise<request.Response> =>
    request(t.app).post('/adfs/ls/').set('Cookie', jar.header()).type('form').send(fields);
  const get = (query: string, jar = new Jar()): Promise<request.Response> =>
    request(t.app).get(`/adfs/ls/?${query}`).set('Cookie', jar.header());

  // B1 ------------------------------------------------------------------------------------------------
  for (const [name, file] of [
    ['B1.1 billion laughs', 'authn-request.b1-1.billion-laughs.xml'],
    [
      'B1.2 XXE (SYSTEM entity, remote parameter entity)',
      'authn-request.b1-2.xxe-system-entity.xml',
    ],
    ['B1.3 any DOCTYPE', 'authn-request.b1-3.harmless-doctype.xml'],
    ['B1.8 two root elements', 'authn-request.b1-8.two-roots.xml'],
    ['B1.8 processing instruction before the root', 'authn-request.b1-8.pi-before-root.xml'],
    ['B1.9 wrong root element', 'authn-request.b1-9.wrong-root.xml'],
    ['B1.9 AuthnRequest in a foreign namespace', 'authn-request.b1-9.foreign-namespace.xml'],
    ['B3.6 placeholder ID ${java.version}', 'authn-request.b3-6.placeholder-id.xml'],
    ['B3.6 quote in ID', 'authn-request.b3-6.quote-in-id.xml'],
    ['B2.15 comment inside Issuer (truncation)', 'authn-request.b2-15.comment-in-issuer.xml'],
  ] as const) {
    test(`${name}: refused (POST and Redirect)`, async () => {
      const xml = fromFixture(file);
      assertRefused(await post({ SAMLRequest: b64(xml) }));
      assertRefused(await get(redirectQuery(xml, { unsigned: true })));
    });
  }

  test('B1.4 deflate bomb (Redirect) stops at the inflate cap', async () => {
    const bomb = deflateRawSync(Buffer.alloc(3 * 1024 * 1024, 0x20)).toString('base64');
    const res = await get(`SAMLRequest=${encodeURIComponent(bomb)}`);
    assertRefused(res);
    assert.ok(t.logs.lines.some((l) => l.detail === 'inflated message too large'));
    // The same bomb POSTed deflated (node-saml style) hits the same cap.
    const big = deflateRawSync(Buffer.alloc(40 * 1024 * 1024, 0x20)).toString('base64');
    assertRefused(await post({ SAMLRequest: big }));
  });

  test('B1.5 oversize POST body → 413; RelayState over 80 bytes → refused', async () => {
    const res = await post({ SAMLRequest: 'A'.repeat(70 * 1024) });
    assert.equal(res.status, 413);
    assertRefused(await post({ SAMLRequest: b64(authnRequest()), RelayState: 'x'.repeat(81) }));
  });

  test('B1.6 invalid base64, NUL bytes, UTF-16, non-XML → 400', async () => {
    assertRefused(await post({ SAMLRequest: '***not base64***' }));
    assertRefused(await post({ SAMLRequest: b64('<a>\u0000</a>') }));
    assertRefused(
      await post({ SAMLRequest: Buffer.from('\ufeff<x/>', 'utf16le').toString('base64') }),
    );
    assertRefused(await post({ SAMLRequest: b64('<<<< not xml') }));
    assertRefused(await get('SAMLRequest=%ZZ'));
  });

  test('B1.7 deep nesting and repeated parameters → 400, server stays up', async () => {
    const deep = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0" IssueInstant="${new Date().toISOString()}">${'<x>'.repeat(5000)}${'</x>'.repeat(5000)}</samlp:AuthnRequest>`;
    assertRefused(await post({ SAMLRequest: b64(deep) }));
    const xml = b64(authnRequest());
    assertRefused(
      await get(`SAMLRequest=${encodeURIComponent(xml)}&SAMLRequest=${encodeURIComponent(xml)}`),
    );
    assert.equal((await request(t.app).get('/adfs/probe')).status, 200);
  });

  // B2 ------------------------------------------------------------------------------------------------
  test('B2.12 signature stripping: unsigned request from an SP whose metadata says AuthnRequestsSigned', async () => {
    const xml = authnRequest({ issuer: SIGNED_SP });
    assertRefused(await post({ SAMLRequest: b64(xml) }), 400, /must be signed/);
    assertRefused(await get(redirectQuery(xml, { unsigned: true })), 400, /must be signed/);
  });

  test('B2.12 Redirect with Signature but no SigAlg, or SigAlg but no Signature', async () => {
    const xml = authnRequest({ issuer: SIGNED_SP });
    assertRefused(await get(redirectQuery(xml, { omit: 'SigAlg' })));
    assertRefused(await get(redirectQuery(xml, { omit: 'Signature' })));
  });

  test('the well-signed request is accepted (control for the B2 cases)', async () => {
    const post1 = await post({ SAMLRequest: b64(signPost(authnRequest({ issuer: SIGNED_SP }))) });
    assert.equal(post1.status, 200);
    assert.ok(post1.text.includes('name="AuthState"'));
    const get1 = await get(redirectQuery(authnRequest({ issuer: SIGNED_SP }), { relayState: 'r' }));
    assert.equal(get1.status, 200);
    assert.ok(get1.text.includes('name="AuthState"'));
  });

  test('A1/B2.13 signed with an attacker key whose certificate is in KeyInfo → refused', async () => {
    const keyInfo = `<X509Data><X509Certificate>${ATTACKER_CERT.replace(/-----[^-]+-----|\s/g, '')}</X509Certificate></X509Data>`;
    const xml = signPost(authnRequest({ issuer: SIGNED_SP }), ATTACKER_KEY, { keyInfo });
    assertRefused(await post({ SAMLRequest: b64(xml) }), 400, /signature could not be verified/);
    assertRefused(
      await get(redirectQuery(authnRequest({ issuer: SIGNED_SP }), { key: ATTACKER_KEY })),
    );
  });

  test('B2.14 algorithm policy: rsa-sha1, sha1 digest, c14n WithComments, XSLT transform, hmac → refused', async () => {
    const base = (): string => authnRequest({ issuer: SIGNED_SP });
    const cases = [
      signPost(base(), SP_KEY, { alg: RSA_SHA1 }),
      signPost(base(), SP_KEY, { digest: 'http://www.w3.org/2000/09/xmldsig#sha1' }),
      signPost(base(), SP_KEY, { c14n: 'http://www.w3.org/2001/10/xml-exc-c14n#WithComments' }),
      signPost(base()).replace(
        'Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>',
        'Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/></ds:Transforms>',
      ),
      signPost(base()).replace(RSA_SHA256, 'http://www.w3.org/2000/09/xmldsig#hmac-sha1'),
    ];
    assert.ok(cases[3]!.includes('REC-xslt'));
    for (const xml of cases) assertRefused(await post({ SAMLRequest: b64(xml) }));
    assertRefused(await get(redirectQuery(base(), { sigAlg: RSA_SHA1 })), 400, /algorithm/);
  });

  // Wrapping and tampering (B2.3, B2.4, B2.5/A5, B2.9, tamper). Each attack changes ONLY what the signature
  // protects: the attacker wants the signed SP's second *registered* ACS (index 1), or ForceAuthn, IsPassive or
  // NameIDPolicy changed — nothing the ACS-from-metadata, Destination, freshness, replay or Issuer checks would
  // refuse. Every case has a positive control: the attacker's request, properly signed by the SP, is accepted, so
  // the refusal can only come from the signature defence.
  const honest = { issuer: SIGNED_SP, acsIndex: 0 };
  const goal = { issuer: SIGNED_SP, acsIndex: 1 };
  const sigOf = (signed: string): string => /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(signed)![0];
  const accepted = (res: { status: number; text: string }, what: string): void => {
    assert.equal(res.status, 200, `${what}: ${res.text.slice(0, 300)}`);
    assert.match(res.text, /name="AuthState"|name="SAMLResponse"/, what);
  };
  const refusedSignature = (res: { status: number; text: string }): void => {
    assertRefused(res, 400, /signature could not be verified/);
  };

  test('B2.3 wrapping (XSW3): evil request with a new ID first, the signed request after it (Extensions) → refused; control accepted', async () => {
    accepted(await post({ SAMLRequest: b64(signPost(authnRequest(goal))) }), 'control');
    const good = signPost(authnRequest(honest));
    const evil = authnRequest({ ...goal, extra: `<samlp:Extensions>${good}</samlp:Extensions>` });
    refusedSignature(await post({ SAMLRequest: b64(evil) }));
  });

  test('B2.4 wrapping (XSW4): the signed request moved inside the evil one, before its Issuer → refused; control accepted', async () => {
    accepted(await post({ SAMLRequest: b64(signPost(authnRequest(goal))) }), 'control');
    const good = signPost(authnRequest(honest));
    const evil = authnRequest(goal).replace('<saml:Issuer>', `${good}<saml:Issuer>`);
    refusedSignature(await post({ SAMLRequest: b64(evil) }));
  });

  test('B2.5/A5 wrapping: evil root reusing the signed ID and its signature, the signed copy nested (duplicate ID) → refused; control accepted', async () => {
    accepted(await post({ SAMLRequest: b64(signPost(authnRequest(goal))) }), 'control');
    const id = uid();
    const good = signPost(authnRequest({ ...honest, id }));
    const sig = sigOf(good);
    const evil = authnRequest({
      ...goal,
      id,
      extra: `<samlp:Extensions>${good.replace(sig, '')}</samlp:Extensions>`,
    }).replace('</saml:Issuer>', `</saml:Issuer>${sig}`);
    refusedSignature(await post({ SAMLRequest: b64(evil) }));
    // fedgate's own duplicate-ID rule fired (xml-crypto has one too; this pins ours).
    assert.ok(t.logs.lines.some((l) => l.detail === 'the signed ID appears more than once'));
  });

  test('B2.9 a second (decoy) signature where the digest does not reach (inside ds:Object) → refused; control accepted', async () => {
    const good = signPost(authnRequest(honest));
    accepted(await post({ SAMLRequest: b64(good) }), 'control');
    const again = signPost(authnRequest(honest));
    const sig = sigOf(again);
    // The enveloped-signature transform removes the whole ds:Signature, so the decoy leaves the digest intact:
    // only the one-signature-on-the-root rule refuses it.
    const two = again.replace(
      sig,
      sig.replace('</ds:Signature>', `<ds:Object>${sig}</ds:Object></ds:Signature>`),
    );
    refusedSignature(await post({ SAMLRequest: b64(two) }));
  });

  test('B2.15 comment injected into a signed Issuer: the value is read from the signed bytes or refused', async () => {
    const good = signPost(authnRequest({ issuer: SIGNED_SP }));
    const injected = good.replace(
      `>${SIGNED_SP}<`,
      `>${SIGNED_SP.slice(0, 12)}<!---->${SIGNED_SP.slice(12)}<`,
    );
    assert.notEqual(injected, good);
    assertRefused(await post({ SAMLRequest: b64(injected) }));
  });

  test('tampered after signing (ACS index/URL to another registered one, ForceAuthn dropped, IsPassive added, NameIDPolicy changed) → refused; each control accepted', async () => {
    const cases: [string, Parameters<typeof authnRequest>[0], (x: string) => string][] = [
      [
        'ACS index 0 → 1',
        honest,
        (x) => x.replace('AssertionConsumerServiceIndex="0"', 'AssertionConsumerServiceIndex="1"'),
      ],
      [
        'ACS URL → second registered URL',
        { issuer: SIGNED_SP, acsUrl: SIGNED_ACS },
        (x) => x.replace(`"${SIGNED_ACS}"`, `"${SIGNED_ACS2}"`),
      ],
      [
        'ForceAuthn dropped',
        { ...honest, forceAuthn: true },
        (x) => x.replace(' ForceAuthn="true"', ''),
      ],
      [
        'IsPassive added',
        honest,
        (x) => x.replace(' Version="2.0"', ' IsPassive="true" Version="2.0"'),
      ],
      [
        'NameIDPolicy changed',
        { ...honest, nameIdFormat: EMAIL },
        (x) => x.replace(EMAIL, 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified'),
      ],
    ];
    for (const [what, fields, tamper] of cases) {
      const signed = signPost(authnRequest(fields));
      const tampered = tamper(signed);
      assert.notEqual(tampered, signed, what);
      refusedSignature(await post({ SAMLRequest: b64(tampered) }));
      // Control: the tampered request itself, signed by the SP (new ID), is one fedgate accepts.
      const unsigned = tampered
        .replace(sigOf(tampered), '')
        .replace(/ ID="[^"]+"/, ` ID="${uid()}"`);
      accepted(await post({ SAMLRequest: b64(signPost(unsigned)) }), `${what} (control)`);
    }
  });

  test('B2.3 goal reached only with a valid signature: the control request signs in and posts to the second ACS', async () => {
    const { res } = await postAndSignIn(t.app, { SAMLRequest: b64(signPost(authnRequest(goal))) });
    assert.equal(postedSaml(res.text).action, SIGNED_ACS2);
  });

  // B3 ------------------------------------------------------------------------------------------------
  test('B3.1 ACS URL not in metadata, unknown index, unsupported binding → local error, nothing posted', async () => {
    for (const r of [
      { acsUrl: 'https://evil.example/acs' },
      { acsUrl: `${SP_ACS}.evil.example` },
      { acsIndex: 7 },
      { binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact' },
    ]) {
      assertRefused(await post({ SAMLRequest: b64(authnRequest(r)) }), 400, /not registered/);
    }
  });

  test('B3.1 a registered ACS by URL or index is used', async () => {
    const { res } = await postAndSignIn(t.app, { SAMLRequest: b64(authnRequest({ acsIndex: 1 })) });
    assert.equal(postedSaml(res.text).action, `${SP_ACS}/second`);
  });

  test('B3.2 unknown or missing Issuer → refused before any sign-in page', async () => {
    assertRefused(
      await post({ SAMLRequest: b64(authnRequest({ issuer: 'https://unknown.example' })) }),
    );
    const noIssuer = authnRequest().replace(/<saml:Issuer>[^<]*<\/saml:Issuer>/, '');
    assertRefused(await post({ SAMLRequest: b64(noIssuer) }));
  });

  test('B3.3 Destination of another host or port → refused; signed request without Destination → refused', async () => {
    assertRefused(
      await post({
        SAMLRequest: b64(authnRequest({ destination: 'https://evil.example/adfs/ls/' })),
      }),
    );
    assertRefused(
      await post({
        SAMLRequest: b64(authnRequest({ destination: 'https://sts.fedgate.test:8443/adfs/ls/' })),
      }),
    );
    assertRefused(
      await post({
        SAMLRequest: b64(signPost(authnRequest({ issuer: SIGNED_SP, destination: null }))),
      }),
    );
  });

  test('B3.5 RelayState with markup is returned HTML-encoded, byte-exact after decoding', async () => {
    const relay = '"><script>alert(1)</script>&x';
    const { res } = await postAndSignIn(t.app, {
      SAMLRequest: b64(authnRequest()),
      RelayState: relay,
    });
    assert.equal(res.status, 200);
    assert.ok(!res.text.includes('<script>alert(1)'), 'not reflected raw');
    assert.equal(hidden(res.text, 'RelayState'), relay);
    assert.match(res.headers['content-security-policy'] ?? '', /script-src 'nonce-/);
  });

  test('B3.7 replayed request ID → refused; IssueInstant too old or in the future → refused', async () => {
    const xml = authnRequest();
    const first = await post({ SAMLRequest: b64(xml) });
    assert.equal(first.status, 200);
    assertRefused(await post({ SAMLRequest: b64(xml) }), 400, /already used/);
    const old = new Date(Date.now() - 60 * 60_000).toISOString();
    assertRefused(await post({ SAMLRequest: b64(authnRequest({ issueInstant: old })) }));
    const future = new Date(Date.now() + 60 * 60_000).toISOString();
    assertRefused(await post({ SAMLRequest: b64(authnRequest({ issueInstant: future })) }));
  });

  test('B3.9 IsPassive without a session → NoPassive to the registered ACS, no sign-in UI', async () => {
    const id = uid();
    const res = await post({ SAMLRequest: b64(authnRequest({ id, isPassive: true })) });
    assert.equal(res.status, 200);
    assert.ok(!res.text.includes('name="AuthState"'));
    const posted = postedSaml(res.text);
    assert.equal(posted.action, SP_ACS);
    const doc = parseStrict(Buffer.from(posted.SAMLResponse!, 'base64').toString('utf8'));
    const codes = Array.from(
      doc.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:protocol', 'StatusCode'),
    ).map((e) => e.getAttribute('Value'));
    assert.deepEqual(codes, [
      'urn:oasis:names:tc:SAML:2.0:status:Responder',
      'urn:oasis:names:tc:SAML:2.0:status:NoPassive',
    ]);
    assert.equal(doc.documentElement.getAttribute('InResponseTo'), id);
    assert.equal(
      doc.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'Assertion').length,
      0,
    );
  });

  test('B3.9 IsPassive with a session issues without UI', async () => {
    const jar = new Jar();
    await postAndSignIn(t.app, { SAMLRequest: b64(authnRequest()) }, jar);
    const res = await post({ SAMLRequest: b64(authnRequest({ isPassive: true })) }, jar);
    const xml = Buffer.from(postedSaml(res.text).SAMLResponse!, 'base64').toString('utf8');
    assert.match(xml, /status:Success/);
    assert.match(xml, /<saml:Assertion /);
  });

  test('RequestedAuthnContext: a class fedgate cannot satisfy → NoAuthnContext to the ACS, no sign-in UI', async () => {
    const AC = 'urn:oasis:names:tc:SAML:2.0:ac:classes:';
    const statusOf = (text: string): string[] => {
      const doc = parseStrict(
        Buffer.from(postedSaml(text).SAMLResponse!, 'base64').toString('utf8'),
      );
      return Array.from(
        doc.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:protocol', 'StatusCode'),
      ).map((e) => e.getAttribute('Value') ?? '');
    };
    // Certificate sign-in is off in this app; Kerberos and MFA-only classes are not offered at all.
    for (const rac of [
      { classRefs: [`${AC}X509`] },
      { comparison: 'exact', classRefs: [`${AC}Kerberos`] },
      { comparison: 'better', classRefs: [`${AC}PasswordProtectedTransport`] },
      { comparison: 'minimum', classRefs: [`${AC}SmartcardPKI`] },
    ]) {
      const res = await post({ SAMLRequest: b64(authnRequest({ rac })) });
      assert.equal(res.status, 200, JSON.stringify(rac));
      assert.ok(!res.text.includes('name="AuthState"'), JSON.stringify(rac));
      assert.deepEqual(statusOf(res.text), [
        'urn:oasis:names:tc:SAML:2.0:status:Responder',
        'urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext',
      ]);
    }
    // Classes a password satisfies get the sign-in form.
    for (const rac of [
      { classRefs: [`${AC}PasswordProtectedTransport`] },
      { comparison: 'minimum', classRefs: [`${AC}Password`] },
      { comparison: 'maximum', classRefs: [`${AC}X509`] },
      { classRefs: [`${AC}unspecified`] },
    ]) {
      const res = await post({ SAMLRequest: b64(authnRequest({ rac })) });
      assert.equal(res.status, 200, JSON.stringify(rac));
      assert.match(res.text, /name="Password"/, JSON.stringify(rac));
    }
    // A malformed Comparison is a bad request, not a guess.
    assertRefused(
      await post({
        SAMLRequest: b64(
          authnRequest({ rac: { comparison: 'weaker', classRefs: [`${AC}Password`] } }),
        ),
      }),
    );
  });

  test('B3.10 NameIDPolicy asking for a format the trust does not give → InvalidNameIDPolicy', async () => {
    const res = await post({ SAMLRequest: b64(authnRequest({ nameIdFormat: PERSISTENT })) });
    assert.equal(res.status, 200);
    const xml = Buffer.from(postedSaml(res.text).SAMLResponse!, 'base64').toString('utf8');
    assert.match(xml, /status:InvalidNameIDPolicy/);
    assert.doesNotMatch(xml, /<saml:Assertion /);
  });

  test('B3.11 Host and X-Forwarded-Host do not change Destination, Issuer or metadata', async () => {
    const jar = new Jar();
    const first = await request(t.app)
      .post('/adfs/ls/')
      .set('Host', 'evil.example')
      .set('X-Forwarded-Host', 'evil.example')
      .type('form')
      .send({ SAMLRequest: b64(authnRequest()) });
    jar.take(first);
    assert.equal(first.status, 200);
    const { res } = await getAndSignIn(
      t.app,
      `${IDP_SSO}?${redirectQuery(authnRequest(), { unsigned: true })}`,
    );
    const xml = Buffer.from(postedSaml(res.text).SAMLResponse!, 'base64').toString('utf8');
    assert.doesNotMatch(xml, /evil\.example/);
    const md = await request(t.app)
      .get('/FederationMetadata/2007-06/FederationMetadata.xml')
      .set('Host', 'evil.example');
    assert.doesNotMatch(md.text, /evil\.example/);
    assert.match(
      md.text,
      /<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https:\/\/sts\.fedgate\.test\/adfs\/ls\/">/,
    );
  });

  test('B3.8 LogoutRequest unsigned, signed by another key, or expired → refused; session kept', async () => {
    const jar = new Jar();
    const { res } = await postAndSignIn(t.app, { SAMLRequest: b64(authnRequest()) }, jar);
    assert.equal(res.status, 200);
    const logout = (o: { notOnOrAfter?: string } = {}): string =>
      '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"' +
      ` ID="${uid()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${IDP_SSO}"` +
      (o.notOnOrAfter === undefined ? '' : ` NotOnOrAfter="${o.notOnOrAfter}"`) +
      `><saml:Issuer>${SP_ID}</saml:Issuer><saml:NameID Format="${EMAIL}">alice@fedgate.test</saml:NameID></samlp:LogoutRequest>`;
    const unsigned = await get(redirectQuery(logout(), { unsigned: true }), jar);
    assertRefused(unsigned, 400, /must be signed/);
    assertRefused(await get(redirectQuery(logout(), { key: ATTACKER_KEY }), jar));
    const expired = new Date(Date.now() - 30 * 60_000).toISOString();
    assertRefused(
      await post({ SAMLRequest: b64(signPost(logout({ notOnOrAfter: expired }))) }, jar),
    );
    // The session survived every refused logout: the next request needs no form.
    const again = await post({ SAMLRequest: b64(authnRequest()) }, jar);
    assert.ok(!again.text.includes('name="AuthState"'));
    assert.ok(postedSaml(again.text).SAMLResponse);
  });

  test('B3.8 LogoutRequest for another principal (NameID mismatch) → session kept, PartialLogout', async () => {
    const jar = new Jar();
    await postAndSignIn(t.app, { SAMLRequest: b64(authnRequest()) }, jar);
    const lr =
      '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"' +
      ` ID="${uid()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${IDP_SSO}">` +
      `<saml:Issuer>${SP_ID}</saml:Issuer><saml:NameID Format="${EMAIL}">bob@fedgate.test</saml:NameID></samlp:LogoutRequest>`;
    const res = await get(redirectQuery(lr), jar);
    assert.equal(res.status, 302);
    const loc = new URL(res.headers.location as string);
    const xml = (await import('node:zlib'))
      .inflateRawSync(Buffer.from(loc.searchParams.get('SAMLResponse')!, 'base64'))
      .toString();
    assert.match(xml, /status:PartialLogout/);
    const again = await post({ SAMLRequest: b64(authnRequest()) }, jar);
    assert.ok(!again.text.includes('name="AuthState"'), 'session kept');
  });
});
